// Package jobs holds the background work of the server, run on river
// (PostgreSQL-backed queue shared by every `demsd` process): the argument
// types that producers enqueue (transactionally, with the change that
// needs them) and the workers that run them.
package jobs
