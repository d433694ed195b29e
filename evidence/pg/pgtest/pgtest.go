// Package pgtest gives each test its own fresh, migrated PostgreSQL
// database, cloned from a template that is migrated once per schema
// version. The server comes from OPENDEMS_TEST_DATABASE_URL (make test
// starts a private cluster); without it tests skip, unless
// OPENDEMS_TEST_REQUIRE_SERVICES=1, when they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence/pg"
)

// AdminURL returns the superuser URL of the test cluster, skipping (or
// failing, when services are required) if there is none.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("OPENDEMS_TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("OPENDEMS_TEST_DATABASE_URL is not set but OPENDEMS_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("OPENDEMS_TEST_DATABASE_URL not set; run make test")
	}
	return u
}

// DB is a test database.
type DB struct {
	Pool *pgxpool.Pool
	URL  string // superuser URL of this database
	Name string
}

// NewDB creates a fresh migrated database for t and drops it at cleanup.
func NewDB(t testing.TB) *DB {
	t.Helper()
	admin := AdminURL(t)
	ctx := context.Background()
	tmpl, err := ensureTemplate(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: template: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tmpl))
		if err == nil || attempt > 50 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	dbURL := withDatabase(admin, name)
	pool, err := pg.Open(ctx, dbURL, 40)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	})
	return &DB{Pool: pool, URL: dbURL, Name: name}
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

// ensureTemplate creates (once per schema version, across concurrent test
// processes) a migrated template database and returns its name.
func ensureTemplate(ctx context.Context, admin string) (string, error) {
	fp, err := pg.SchemaFingerprint()
	if err != nil {
		return "", err
	}
	name := "tmpl_" + fp[:16]
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, `SELECT pg_advisory_unlock(4242)`)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
		return "", err
	}
	pool, err := pg.Open(ctx, withDatabase(admin, name), 4)
	if err != nil {
		return "", err
	}
	_, err = pg.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`, name)); err != nil {
		return "", err
	}
	return name, nil
}
