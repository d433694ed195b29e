package pg_test

import (
	"context"
	"strings"
	"testing"

	"github.com/opendems/opendems/evidence/pg"
	"github.com/opendems/opendems/evidence/pg/pgtest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	db := pgtest.NewDB(t)
	applied, err := pg.Migrate(context.Background(), db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second migrate applied %v", applied)
	}
	var n int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM opendems_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	ms, _ := pg.Migrations()
	if n != len(ms) {
		t.Fatalf("recorded %d migrations, embedded %d", n, len(ms))
	}
	// river's tables exist.
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatalf("river not migrated: %v", err)
	}
}

func TestOpenUnreachableIsClear(t *testing.T) {
	_, err := pg.Open(context.Background(), "postgres://nobody:secretpw@127.0.0.1:1/none?connect_timeout=2", 2)
	if err == nil {
		t.Fatal("want error")
	}
	if !strings.Contains(err.Error(), "cannot reach PostgreSQL at 127.0.0.1:1") {
		t.Fatalf("unclear error: %v", err)
	}
	if strings.Contains(err.Error(), "secretpw") {
		t.Fatalf("password leaked: %v", err)
	}
}

// TestAppRoleCanWorkButNotRewriteHistory runs as opendems_app: it may use
// ordinary tables, but not rewrite custody or audit rows.
func TestAppRoleCanWorkButNotRewriteHistory(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET ROLE opendems_app`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET ROLE`)
	if _, err := conn.Exec(ctx, `INSERT INTO units(slug, name, path) VALUES ('x', 'X', 'x')`); err != nil {
		t.Fatalf("app role cannot insert a unit: %v", err)
	}
	if _, err := conn.Exec(ctx, `UPDATE units SET name = 'Y' WHERE slug = 'x'`); err != nil {
		t.Fatalf("app role cannot update a unit: %v", err)
	}
	if _, err := conn.Exec(ctx, `SELECT count(*) FROM river_job`); err != nil {
		t.Fatalf("app role cannot read river's queue: %v", err)
	}
	for _, q := range []string{`UPDATE custody_events SET actor = 'x'`, `DELETE FROM audit_log`, `TRUNCATE custody_events`} {
		if _, err := conn.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: want permission denied, got %v", q, err)
		}
	}
}
