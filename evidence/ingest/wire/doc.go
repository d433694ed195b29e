// Package wire holds the ingest protocol's request and response types, their
// parsing and validation, and the error codes, shared by the server
// (evidence/ingest) and the docking-station agent (evidence/dock). It is
// pure Go with no dependency beyond the standard library, so the agent stays
// small and CGO-free, and both sides agree on every rule by construction.
//
// Parsing is strict (unknown fields, trailing data, out-of-range values are
// errors naming the field) because whatever is accepted here ends up in an
// evidence record. The parsers are fuzzed.
package wire
