package devcluster

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/pg"
)

// The dev server connects as a member of opendems_app, not as the
// cluster's superuser: it cannot rewrite history or switch off the
// triggers that keep custody and audit append-only.
func TestDevServerRoleIsNotSuperuser(t *testing.T) {
	if _, err := FindBinDir(); err != nil {
		if os.Getenv("OPENDEMS_TEST_REQUIRE_SERVICES") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// As root the cluster runs as the postgres user, who must reach it.
	dir, err := os.MkdirTemp("", "devcluster")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	c, err := New(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx, "opendems"); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	pool, err := pg.Open(ctx, c.URL("opendems"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	url, err := c.EnsureAppRole(ctx, "opendems")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.EnsureAppRole(ctx, "opendems"); err != nil || again != url {
		t.Fatalf("second call: %s %v", again, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var user string
	var super bool
	if err := conn.QueryRow(ctx, `SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&user, &super); err != nil {
		t.Fatal(err)
	}
	if user != AppRole || super {
		t.Fatalf("connected as %s (superuser %v)", user, super)
	}
	// It may append to the audit log but not disable its triggers.
	if _, err := conn.Exec(ctx, `SELECT count(*) FROM audit_log`); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`,
		`DELETE FROM custody_events`, `UPDATE audit_anchors SET seq = 1`} {
		if _, err := conn.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "must be owner") && !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: %v", sql, err)
		}
	}
}
