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
