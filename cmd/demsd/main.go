// Command demsd is the OpenDEMS server: the HTTP API and web UI, the
// background workers, database migrations, a self-contained dev mode, and
// the media pipeline on the command line (running exactly the code the
// workers run).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/asticode/go-astiav"
	"github.com/spf13/cobra"

	"github.com/opendems/opendems/transcode"
)

func main() {
	// FFmpeg's own lines (warnings about every odd packet) go to slog at
	// debug level; users get our errors, one per failure, instead.
	// The worker installs its own router, tagging lines with item ids.
	transcode.NewFFmpegLog(nil).Install(astiav.LogLevelWarning)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "demsd",
		Short:         "OpenDEMS evidence management server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), devCmd(), migrateCmd(), workerCmd(), fixityCmd(), custodyVerifyCmd(), bootstrapCmd())
	root.AddCommand(mediaCommands()...)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demsd:", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

func setupLogging(level, format string) {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if format == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	slog.SetDefault(slog.New(h))
}
