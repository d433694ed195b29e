// Package server assembles demsd from its configuration: PostgreSQL,
// storage, policy, identity, custody, ingest, the river job queue and the
// HTTP API. It is the only place that knows every part; the parts know
// each other only through the small interfaces they declare.
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"gopkg.in/yaml.v3"

	"github.com/opendems/opendems/configs"
	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest"
	"github.com/opendems/opendems/evidence/pg"
	"github.com/opendems/opendems/evidence/release"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/policy"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
	"github.com/opendems/opendems/storage/s3"
)

// App is a running demsd.
type App struct {
	Config   configs.Config
	Pool     *pgxpool.Pool
	Storage  storage.Backend
	Key      ed25519.PrivateKey
	Access   *policy.Access
	Identity *identity.Store
	Evidence *evidence.Store
	Custody  *custody.Service
	Ingest   *ingest.Service
	River    *river.Client[pgx.Tx]
	Requests *request.Store
	Releases *release.Service
	API      *api.Server
	Registry *prometheus.Registry
	Metrics  *Metrics
	Logger   *slog.Logger

	working bool // this process runs jobs

	// The retention schedule, read and parsed once (loadSchedule).
	schedule       *policy.Schedule
	scheduleFile   configs.File
	scheduleConfig *policy.ScheduleConfig
}

func (a *App) riverWorking() bool { return a.working }

// Options change how Build assembles the app.
type Options struct {
	// Workers overrides cfg.Workers.Enabled (nil: use the config).
	Workers *bool
	// HTTP false builds no API (worker-only processes).
	HTTP bool
	// WarmConns database connections are kept open while idle (serving
	// processes keep half the pool warm; tests and one-shot commands none).
	WarmConns int32
}

// OpenStorage opens and checks the configured backend.
func OpenStorage(ctx context.Context, c configs.Storage) (storage.Backend, error) {
	var b storage.Backend
	switch c.Backend {
	case "fs":
		st, err := fs.New(c.FS.Root, nil)
		if err != nil {
			return nil, err
		}
		b = st
	case "s3":
		st, err := s3.New(s3.Config{
			Endpoint: c.S3.Endpoint, AccessKey: c.S3.AccessKey, SecretKey: c.S3.SecretKey.Reveal(), Bucket: c.S3.Bucket,
			Region: c.S3.Region, UseTLS: c.S3.UseTLS, RetentionMode: c.S3.RetentionMode, PartSize: c.S3.PartSize,
		})
		if err != nil {
			return nil, err
		}
		b = st
	default:
		return nil, fmt.Errorf("storage: unknown backend %q", c.Backend)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.Check(cctx); err != nil {
		return nil, fmt.Errorf("storage (%s) is not usable: %w", c.Backend, err)
	}
	return b, nil
}

// LoadPolicy builds the access decider from the configured files or the
// embedded defaults.
func LoadPolicy(c configs.Policy) (*policy.Access, error) {
	var src policy.Source
	if c.ModelFile != "" { // configs.Validate: both or neither
		src = policy.FileSource{ModelPath: c.ModelFile, PolicyPath: c.PolicyFile}
	} else {
		src = policy.StaticSource{ModelName: "configs/policy/access_model.conf", Model: policyconf.AccessModel(), PolicyName: "configs/policy/access_policy.csv", Policy: policyconf.AccessPolicy()}
	}
	return policy.NewAccess(src)
}

// initialLock is how long a new original is locked in storage at upload:
// the shortest period of the retention schedule. The item's real
// retain-until (from its recording time and categories) is computed by the
// retention service right after and only ever extends the lock, so no
// original is stored unlocked while it waits for that.
func initialLock(sched *policy.Schedule) time.Duration {
	now := time.Now()
	var shortest time.Duration
	for _, cp := range sched.Categories() {
		if cp.Keep.Indefinite {
			continue
		}
		d := now.AddDate(cp.Keep.Years, cp.Keep.Months, cp.Keep.Days).Sub(now)
		if shortest == 0 || d < shortest {
			shortest = d
		}
	}
	return shortest
}

// loadSchedule reads and parses the retention schedule once for the whole
// process (configs.Policy.ReadSchedule).
func (a *App) loadSchedule() error {
	f, err := a.Config.Policy.ReadSchedule()
	if err != nil {
		return err
	}
	sched, err := policy.ParseSchedule(f.Data)
	if err != nil {
		return fmt.Errorf("retention schedule %s: %w", f.Source, err)
	}
	// The display copy (flags, descriptions); ParseSchedule already
	// validated the same bytes strictly.
	var cfg policy.ScheduleConfig
	if err := yaml.Unmarshal(f.Data, &cfg); err != nil {
		return fmt.Errorf("retention schedule %s: %w", f.Source, err)
	}
	a.schedule, a.scheduleFile, a.scheduleConfig = sched, f, &cfg
	return nil
}

// Build connects everything. It fails (and releases what it opened) if any
// dependency is unusable, so a server never starts half-working.
func Build(ctx context.Context, cfg configs.Config, opts Options) (app *App, err error) {
	a := &App{Config: cfg, Logger: slog.Default(), Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Database.URL == "" {
		return nil, &configs.FieldError{Field: "database.url", Reason: "required (or set OPENDEMS_DATABASE_URL)"}
	}
	if a.Pool, err = pg.OpenWarm(ctx, cfg.Database.URL.Reveal(), cfg.Database.MaxConns, opts.WarmConns); err != nil {
		return nil, err
	}
	if a.Metrics, err = newMetrics(a.Registry, a.Pool, a.Logger); err != nil {
		return nil, err
	}
	if cfg.Database.MigrateOnStart {
		applied, err := pg.Migrate(ctx, a.Pool)
		if err != nil {
			return nil, err
		}
		if len(applied) > 0 {
			a.Logger.Info("database migrated", "applied", applied)
		}
	}
	// A server connected as a superuser could switch off the triggers that
	// keep custody and audit append-only: say so loudly (docs/security.md).
	var super bool
	if err := a.Pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err == nil && super {
		a.Logger.Warn("connected to PostgreSQL as a superuser: connect as a login role granted opendems_app (run migrations as the owner) so the server cannot rewrite custody or audit history")
	}
	if a.Storage, err = OpenStorage(ctx, cfg.Storage); err != nil {
		return nil, err
	}
	if a.Key, err = LoadOrCreateSigningKey(cfg.Keys.SigningKeyFile); err != nil {
		return nil, err
	}
	if a.Access, err = LoadPolicy(cfg.Policy); err != nil {
		return nil, err
	}
	if err = a.loadSchedule(); err != nil {
		return nil, err
	}
	decider := Authorizer{Access: a.Access}
	authz := meteredAuthorizer{Authorizer: decider, m: a.Metrics}
	a.Identity = identity.NewStore(a.Pool)
	a.Identity.Lockout = identity.Lockout{Attempts: cfg.Server.LockoutAttempts, Duration: cfg.Server.LockoutDuration}
	a.Identity.TokenMaxLifetime = cfg.Server.TokenMaxLifetime
	a.Identity.MFALimit = identity.MFALimit{Attempts: cfg.Server.MFAAttempts, Lockout: cfg.Server.MFALockout, MaxLockout: 24 * time.Hour}
	a.Identity.OnMFALock = func(ctx context.Context, e identity.MFALockEvent) {
		_, err := audit.Record(context.WithoutCancel(ctx), a.Pool, audit.Entry{Component: "identity", EventType: audit.EventAccountLocked,
			Actor: "user:" + e.Username, UserID: e.UserID, Outcome: audit.OutcomeDenied,
			Details: map[string]any{"factor": "second", "until": e.Until.UTC().Format(time.RFC3339), "lockouts_in_a_row": e.Lockouts}})
		if err != nil {
			a.Logger.ErrorContext(ctx, "audit record failed", "type", audit.EventAccountLocked, "err", err)
		}
	}
	a.Evidence = evidence.NewStore(a.Pool)
	a.Custody = custody.NewService(a.Pool, a.Storage, a.Key.Public().(ed25519.PublicKey), a.Logger)

	if a.Requests, err = newRequests(a); err != nil {
		return nil, err
	}
	workers := cfg.Workers.Enabled
	if opts.Workers != nil {
		workers = *opts.Workers
	}
	if a.River, err = newRiver(a, workers); err != nil {
		return nil, err
	}
	a.Ingest, err = ingest.NewService(ingest.Config{RetainFor: initialLock(a.schedule),
		Pool: a.Pool, Storage: meteredUploads{Backend: a.Storage, m: a.Metrics}, OnCommit: ingestCommitted(a.River), Custody: ingestCustody{}, ReceiptKey: a.Key,
		Policy: ingestPolicy{decider, a.Evidence}, ChunkSize: cfg.Ingest.ChunkSize, SessionMaxAge: cfg.Ingest.AbandonedAfter, Logger: a.Logger,
	})
	if err != nil {
		return nil, err
	}
	if opts.HTTP {
		a.API = api.New(api.Deps{
			DB: a.Pool, Identity: a.Identity, Evidence: a.Evidence, Storage: a.Storage, Authorizer: authz,
			Auditor: auditor{a}, Custody: custodyRecorder{a.Custody}, Registry: a.Registry,
			Options: api.Options{SecureCookies: cfg.Server.SecureCookies, SessionIdle: cfg.Server.SessionIdle,
				SessionMax: cfg.Server.SessionMax, MaxJSONBody: cfg.Server.MaxJSONBody, TrustedProxies: cfg.Server.TrustedProxies},
			AfterAuth: []gin.HandlerFunc{adminAudit(a)},
		})
		if err = registerHTTP(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Serve runs the HTTP server (and the workers, if enabled) until ctx ends,
// then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if a.API != nil {
		// Finish commits a crash interrupted (object stored, item not yet
		// committed) before taking new uploads.
		if n, err := a.Ingest.Reconcile(ctx); err != nil {
			a.Logger.Error("ingest reconcile failed; the hourly cleanup retries", "err", err)
		} else if n > 0 {
			a.Logger.Info("ingest: finished interrupted commits", "count", n)
		}
	}
	if a.River != nil && a.riverWorking() {
		if err := a.River.Start(ctx); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
	}
	if a.API == nil {
		<-ctx.Done()
		return a.stopRiver()
	}
	srv := &http.Server{Handler: a.API, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.Server.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if rerr := a.stopRiver(); err == nil {
		err = rerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (a *App) stopRiver() error {
	if a.River == nil || !a.riverWorking() {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.Server.ShutdownTimeout)
	defer cancel()
	return a.River.Stop(sctx)
}

// Close releases the pool.
func (a *App) Close() {
	if a.Pool != nil {
		a.Pool.Close()
	}
}

func newRiver(a *App, working bool) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{Logger: a.Logger}
	if working {
		ws := river.NewWorkers()
		registerWorkers(a, ws)
		cfg.Workers = ws
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: a.Config.Workers.Concurrency},
			release.Queue: {MaxWorkers: releaseBuilders}}
		cfg.JobTimeout = a.Config.Workers.JobTimeout
		cfg.RescueStuckJobsAfter = a.Config.Workers.RescueStuckAfter
		cfg.PeriodicJobs = periodicJobs(a)
		cfg.Middleware = []rivertype.Middleware{&jobMetrics{m: a.Metrics}}
	}
	c, err := river.NewClient(riverpgxv5.New(a.Pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	a.working = working
	return c, nil
}
