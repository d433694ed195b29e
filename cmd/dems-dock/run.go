package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/evidence/dock"
)

func runCmd() *cobra.Command {
	var configPath string
	c := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the docking-station daemon: watch, upload, verify, release",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return usageErr("--config is required")
			}
			cfg, err := loadConfig(configPath)
			if err != nil {
				return usageErr("%v", err)
			}
			tok, err := readToken(cfg.Token, cfg.TokenFile)
			if err != nil {
				return usageErr("%v", err)
			}
			key, err := dock.LoadPinnedKey(cfg.StateDir)
			if err != nil {
				return failErr(err)
			}
			client, err := dock.NewClient(cfg.Server, tok, nil)
			if err != nil {
				return usageErr("server: %v", err)
			}
			j, err := dock.OpenJournal(filepath.Join(cfg.StateDir, dock.JournalFile), false, 5*time.Second)
			if err != nil {
				return failErr(fmt.Errorf("%w (is another dems-dock run using %s?)", err, cfg.StateDir))
			}
			defer j.Close()
			logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
			up := &dock.Uploader{Client: client, Key: key,
				Backoff: dock.Backoff{Initial: cfg.RetryInitial, Max: cfg.RetryMax}, MaxTransient: 5}
			d, err := dock.NewDaemon(cfg, j, up, logger)
			if err != nil {
				return usageErr("%v", err)
			}
			d.StatusPath = filepath.Join(cfg.StateDir, dock.StatusFile)
			logger.Info("dems-dock running", "server", cfg.Server, "watch", len(cfg.Watch), "state_dir", cfg.StateDir)
			return d.Run(cmd.Context())
		},
	}
	c.Flags().StringVar(&configPath, "config", "", "dock config file (YAML)")
	return c
}
