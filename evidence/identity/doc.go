// Package identity establishes who is calling: people (role + unit) with
// argon2id-hashed passwords, personal API tokens and web sessions, and
// enrolled docking stations with revocable tokens. It stores only hashes of
// secrets. Authorization (what a principal may do) is package policy's job;
// identity only answers "who".
package identity
