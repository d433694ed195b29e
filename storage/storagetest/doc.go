// Package storagetest is the conformance suite every storage.Backend must
// pass, and the helpers that give tests a real S3 (MinIO) to run against.
//
// A backend's test calls Run with a constructor for fresh, empty backends
// and a reopen function that builds a second instance over the same state
// (as after a process restart); the suite then checks, through the public
// interface only, every guarantee documented in package storage: verified
// puts that leave nothing behind on a wrong digest or size, idempotent
// same-digest puts, range reads, retention and legal hold enforcement,
// retention that only extends, resumable uploads that survive a restart,
// and concurrent writers.
//
// S3Env reads the OPENDEMS_TEST_S3_* variables. A missing variable skips
// the test, unless OPENDEMS_TEST_REQUIRE_SERVICES=1, which turns the skip
// into a failure so CI never passes by silently skipping.
package storagetest
