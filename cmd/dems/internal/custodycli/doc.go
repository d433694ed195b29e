// Package custodycli holds the command-line entry points of custody that the
// `dems` binary wires up (cobra lives in cmd/dems; this package only does
// the work and returns errors that main maps to exit codes).
//
// It imports only the pure-Go chain package, so `dems custody verify`
// builds with CGO_ENABLED=0 and runs on any machine that receives an
// export, without a database or network.
package custodycli
