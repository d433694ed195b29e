package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/opendems/opendems/cmd/demsd/internal/server"
	"github.com/opendems/opendems/configs"
	"github.com/opendems/opendems/evidence/pg"
)

func loadConfig(path string) (configs.Config, error) {
	cfg, err := configs.Load(path, os.Environ())
	if err != nil {
		return cfg, err
	}
	setupLogging(cfg.Log.Level, cfg.Log.Format)
	return cfg, nil
}

func serveCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API, web UI and (if enabled) workers against configured PostgreSQL and storage",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, nil)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file (defaults are embedded; OPENDEMS_* environment overrides)")
	return cmd
}

// serve builds the app, listens, and runs until the context ends. ready,
// if set, runs once the server is listening.
func serve(ctx context.Context, cfg configs.Config, ready func(*server.App) error) error {
	app, err := server.Build(ctx, cfg, server.Options{HTTP: true, WarmConns: cfg.Database.MaxConns / 2})
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Server.Listen, err)
	}
	watchPolicy(ctx, app)
	if cfg.Policy.PolicyFile != "" {
		// Edited policy files take effect without a signal, too.
		go app.Access.Watch(ctx, 5*time.Second, func(version string, err error) {
			if err != nil {
				slog.Error("policy file changed but is invalid; keeping the previous policy", "err", err)
				return
			}
			slog.Info("policy reloaded after an edit", "version", version)
			recordPolicyChange(ctx, app, version)
		})
	}
	if ready != nil {
		if err := ready(app); err != nil {
			ln.Close()
			return err
		}
	}
	slog.Info("demsd listening", "addr", ln.Addr().String(), "storage", app.Storage.Name(), "workers", cfg.Workers.Enabled)
	return app.Serve(ctx, ln)
}

// watchPolicy reloads the casbin policy on SIGHUP.
func watchPolicy(ctx context.Context, app *server.App) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := app.Access.Reload(); err != nil {
					slog.Error("policy reload failed; keeping the previous policy", "err", err)
				} else {
					slog.Info("policy reloaded", "version", app.Access.Version())
					recordPolicyChange(ctx, app, app.Access.Version())
				}
			}
		}
	}()
}

func migrateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations (OpenDEMS schema, then river's)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if cfg.Database.URL == "" {
				return &configs.FieldError{Field: "database.url", Reason: "required (or set OPENDEMS_DATABASE_URL)"}
			}
			pool, err := pg.Open(cmd.Context(), cfg.Database.URL.Reveal(), 4)
			if err != nil {
				return err
			}
			defer pool.Close()
			applied, err := pg.Migrate(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Println("database is up to date")
			}
			for _, m := range applied {
				fmt.Println("applied", m)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file")
	return cmd
}

func workerCmd() *cobra.Command {
	var path, metricsAddr string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run background jobs only (transcode, fixity, checkpoints), sharing the queue with other demsd processes",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			on := true
			app, err := server.Build(cmd.Context(), cfg, server.Options{Workers: &on})
			if err != nil {
				return err
			}
			defer app.Close()
			if metricsAddr != "" {
				stop, err := serveWorkerMetrics(app, metricsAddr)
				if err != nil {
					return err
				}
				defer stop()
			}
			slog.Info("demsd worker running", "concurrency", cfg.Workers.Concurrency, "metrics", metricsAddr)
			return app.Serve(cmd.Context(), nil)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file")
	cmd.Flags().StringVar(&metricsAddr, "metrics-listen", "", "host:port to serve /metrics and /healthz on (a worker has no API; empty: none)")
	return cmd
}

// serveWorkerMetrics serves the worker's Prometheus registry (its job run
// times, failures and throughput exist only in this process) and a
// liveness probe on addr.
func serveWorkerMetrics(app *server.App, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(app.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("worker metrics server stopped", "err", err)
		}
	}()
	return func() { srv.Close() }, nil
}

// buildTool assembles the app for a one-shot command: no HTTP, no workers.
func buildTool(ctx context.Context, path string) (*server.App, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	off := false
	return server.Build(ctx, cfg, server.Options{Workers: &off})
}

// recordPolicyChange writes the policy change to the audit log (CJIS
// requires policy changes to be audited).
func recordPolicyChange(ctx context.Context, app *server.App, version string) {
	server.AuditSystem(ctx, app, "policy_changed", map[string]any{"policy_version": version})
}
