// Package transcodecli holds the command-line entry points of the media pipeline:
// `demsd probe IN`, `demsd proxy IN OUT` and `demsd thumbnails IN`. They run
// exactly the transcode code the workers run; cmd/demsd only declares the
// cobra commands and flags and calls these functions with its context and
// os.Stdout/os.Stderr.
//
// Output contract: machine-readable JSON on stdout (one document per
// command), human progress on stderr (a progress bar only when stderr is a
// terminal, so logs and pipes stay clean). Errors are returned, not printed;
// main maps them to the exit code.
package transcodecli
