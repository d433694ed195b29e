// Command dems-dock is the docking-station agent: it uploads recordings to
// OpenDEMS through the verified, resumable ingest protocol and frees camera
// storage only after a signed receipt verified. Pure Go (CGO_ENABLED=0) so
// it runs on the Windows and ARM PCs docking stations often are.
//
//	dems-dock enroll --server URL --token T --config FILE
//	dems-dock push   --server URL --token T [metadata flags] [--json] FILE...
//	dems-dock run    --config FILE
//	dems-dock status --config FILE [--json]
//
// The library is evidence/dock; this file only reads flags, files and the
// environment, and maps outcomes to exit codes (0 ok, 1 failure, 2 usage).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "dems-dock",
		Short:         "OpenDEMS docking-station agent: verified, resumable upload of recordings",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(pushCmd(), enrollCmd(), runCmd(), statusCmd())
	err := root.ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "dems-dock:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(2) // flag and argument errors from cobra
}

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func failErr(err error) error { return &exitError{code: 1, err: err} }
