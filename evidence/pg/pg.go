package pg

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opendems/opendems/evidence"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Open connects a pool and checks the server answers.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	return OpenWarm(ctx, url, maxConns, 0)
}

// OpenWarm is Open with warmConns connections kept open while idle
// (pgxpool's MinConns): a server's first burst of requests (fifty docks
// starting at once) then does not wait for PostgreSQL to start backends.
func OpenWarm(ctx context.Context, url string, maxConns, warmConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database: invalid URL: %w", redactURLError(err))
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	if warmConns > 0 && cfg.MinConns == 0 {
		cfg.MinConns = min(warmConns, cfg.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: cannot reach PostgreSQL at %s:%d (database %q, user %q): %w",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, cfg.ConnConfig.User, err)
	}
	return pool, nil
}

// redactURLError drops the connection string from pgx parse errors, which
// may contain a password.
func redactURLError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New(pe.Error()[strings.LastIndex(pe.Error(), ":")+1:])
	}
	return err
}

// Migration is one embedded SQL file.
type Migration struct {
	Name string
	SQL  string
}

// Migrations returns the embedded migrations in the order they apply.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Name: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms, nil
}

// migrateLockID is the advisory lock that serializes migrations.
const migrateLockID = 0x0_DE45_0001

// Migrate applies every embedded migration not yet applied, then river's
// migrations. It returns the names it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockID); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockID)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS opendems_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := map[string]bool{}
	rows, err := conn.Query(ctx, `SELECT name FROM opendems_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, n := range names {
		applied[n] = true
	}
	var done []string
	for _, m := range ms {
		if applied[m.Name] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO opendems_migrations(name) VALUES ($1)`, m.Name)
			return err
		})
		if err != nil {
			return done, fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		done = append(done, m.Name)
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return done, fmt.Errorf("migrate river: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return done, fmt.Errorf("migrate river: %w", err)
	}
	for _, v := range res.Versions {
		done = append(done, fmt.Sprintf("river/%03d", v.Version))
	}
	if _, err := conn.Exec(ctx, appGrants); err != nil {
		return done, fmt.Errorf("migrate: grants for opendems_app: %w", err)
	}
	return done, nil
}

// SchemaFingerprint identifies the schema Migrate produces (migrations and
// grants), e.g. to reuse a migrated template database in tests.
func SchemaFingerprint() (string, error) {
	ms, err := Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range ms {
		h.Write([]byte(m.Name))
		h.Write([]byte(m.SQL))
	}
	h.Write([]byte(appGrants))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// appGrants gives the application role (opendems_app, created by 0002) what
// it needs on every table, including tables later migrations and river
// add, and then takes back what would let it rewrite history: the custody
// and audit tables stay append-only for it. It runs after every migration
// so new tables are never forgotten.
const appGrants = `
GRANT USAGE ON SCHEMA public TO opendems_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO opendems_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO opendems_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO opendems_app;
REVOKE UPDATE, DELETE, TRUNCATE ON custody_events, custody_checkpoints, audit_log, audit_anchors FROM opendems_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON custody_heads, audit_head FROM opendems_app, PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON opendems_migrations FROM opendems_app;
REVOKE UPDATE, DELETE, TRUNCATE ON access_request_events, access_request_extensions, redaction_spec_versions, redaction_job_outputs FROM opendems_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON access_requests, access_request_pauses, request_clips, request_withheld, access_request_counters, redaction_jobs FROM opendems_app, PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON release_events, release_share_events, release_clips, release_withheld FROM opendems_app, PUBLIC;
REVOKE DELETE, TRUNCATE ON redaction_reviews, releases, release_shares FROM opendems_app, PUBLIC;
`

// NotFound translates pgx.ErrNoRows into evidence.ErrNotFound and leaves
// other errors alone.
func NotFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return evidence.ErrNotFound
	}
	return err
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
