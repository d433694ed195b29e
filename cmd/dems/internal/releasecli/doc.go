// Package releasecli implements `dems verify PACKAGE`: offline verification of a
// release package (ZIP or directory) with a readable or JSON report and
// an error naming the first failing file, line or custody event. It is
// pure Go, like the rest of the `dems` binary.
package releasecli
