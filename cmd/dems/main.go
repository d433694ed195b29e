// Command dems is the OpenDEMS administration and offline verification
// CLI. It is pure Go (CGO_ENABLED=0) so it runs anywhere: administration
// goes through the server's API with an admin's token; verification works
// offline on exported files.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root := &cobra.Command{
		Use:           "dems",
		Short:         "OpenDEMS administration and offline verification",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var cl client
	root.PersistentFlags().StringVar(&cl.server, "server", os.Getenv("DEMS_SERVER"), "server URL (or DEMS_SERVER)")
	root.PersistentFlags().StringVar(&cl.token, "token", "", "API token (an administrator's, or a records officer's for request commands; or DEMS_TOKEN)")
	root.PersistentFlags().BoolVar(&cl.json, "json", false, "print JSON")
	requests := requestCmd(&cl)
	requests.AddCommand(releaseCommands(&cl)...)
	root.AddCommand(unitCmd(&cl), userCmd(&cl), dockCmd(&cl), tokenCmd(&cl), requests)
	root.AddCommand(extraCommands()...)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dems:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}
