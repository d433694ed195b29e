package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/cmd/demsd/internal/devcluster"
	"github.com/opendems/opendems/cmd/demsd/internal/devseed"
	"github.com/opendems/opendems/cmd/demsd/internal/server"
	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/pg"
)

func devCmd() *cobra.Command {
	var (
		listen string
		varDir string
		pgPort int
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a self-contained server: private PostgreSQL and filesystem storage under ./var, demo accounts",
		Long: `dev starts a private PostgreSQL cluster from the system's binaries under
./var (initdb on first start, reused later, stopped with the server), stores
objects under ./var/objects, serves the API and web UI, runs the workers in
process, seeds demo accounts and writes var/dev-credentials.json.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg := configs.Default()
			if err := configs.ApplyEnv(&cfg, os.Environ()); err != nil {
				return err
			}
			host, port, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			if host == "" || host == "127.0.0.1" || host == "0.0.0.0" {
				host = "localhost"
			}
			cfg.Server.Listen = listen
			cfg.Server.PublicURL = "http://" + net.JoinHostPort(host, port)
			cfg.Server.SecureCookies = false // plain HTTP on localhost
			cfg.Storage.Backend = "fs"
			cfg.Storage.FS.Root = filepath.Join(varDir, "objects")
			cfg.Keys.SigningKeyFile = filepath.Join(varDir, "keys", "signing.pem")
			setupLogging(cfg.Log.Level, cfg.Log.Format)

			cluster, err := devcluster.New(filepath.Join(varDir, "postgres"), pgPort)
			if err != nil {
				return err
			}
			slog.Info("starting private PostgreSQL", "dir", cluster.Dir, "port", pgPort)
			if err := cluster.Start(ctx, "opendems"); err != nil {
				return err
			}
			defer func() {
				if err := cluster.Stop(); err != nil {
					slog.Error("stopping PostgreSQL", "err", err)
				} else {
					slog.Info("PostgreSQL stopped")
				}
			}()
			// Migrate as the cluster's superuser, then serve as the
			// application role: the running server can append to custody
			// and audit but never rewrite them (see docs/security.md).
			if err := migrateAsOwner(ctx, cluster.URL("opendems")); err != nil {
				return err
			}
			appURL, err := cluster.EnsureAppRole(ctx, "opendems")
			if err != nil {
				return err
			}
			cfg.Database.URL = configs.Secret(appURL)
			cfg.Database.MigrateOnStart = false
			if err := cfg.Validate(); err != nil {
				return err
			}
			credPath := filepath.Join(varDir, "dev-credentials.json")
			return serve(ctx, cfg, func(app *server.App) error {
				seed := &devseed.App{Pool: app.Pool, Identity: app.Identity, Ingest: app.Ingest, Requests: app.Requests, Logger: app.Logger}
				creds, err := devseed.SeedDemo(ctx, seed, credPath, cfg.Server.PublicURL)
				if err != nil {
					return err
				}
				// A few playable recordings per unit (two with real faces
				// moving), uploaded by a dock of the unit through the real
				// ingest path (only on an empty database).
				if ids, err := devseed.SeedDemoMedia(ctx, seed, filepath.Join(varDir, "seed")); err != nil {
					slog.Error("seeding demo recordings failed", "err", err)
				} else if len(ids) > 0 {
					slog.Info("seeded demo recordings", "count", len(ids))
					// One public access request in redacting, the lobby
					// recording linked, so the records floor has work.
					if dr, err := devseed.SeedDemoRequest(ctx, seed, ids); err != nil {
						slog.Error("seeding the demo public access request failed", "err", err)
					} else if dr != nil {
						creds.DemoRequest = dr
						if err := devseed.WriteCredentials(credPath, creds); err != nil {
							return err
						}
					}
				}
				b, _ := json.MarshalIndent(creds, "", "  ")
				fmt.Printf("OpenDEMS dev server: %s\ncredentials (also in %s):\n%s\n", cfg.Server.PublicURL, credPath, b)
				if creds.DemoRequest != nil {
					fmt.Printf("demo public access request: %s (redacting, assigned to records): %s/requests/%s\n",
						creds.DemoRequest.TrackingNumber, cfg.Server.PublicURL, creds.DemoRequest.ID)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address for the API and web UI")
	cmd.Flags().StringVar(&varDir, "var", "var", "directory for the database, objects, keys and credentials")
	cmd.Flags().IntVar(&pgPort, "pg-port", 54329, "port of the private PostgreSQL (loopback only)")
	return cmd
}

// migrateAsOwner applies the migrations over a short-lived superuser pool.
func migrateAsOwner(ctx context.Context, url string) error {
	pool, err := pg.Open(ctx, url, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if applied, err := pg.Migrate(ctx, pool); err != nil {
		return err
	} else if len(applied) > 0 {
		slog.Info("migrations applied", "names", applied)
	}
	return nil
}
