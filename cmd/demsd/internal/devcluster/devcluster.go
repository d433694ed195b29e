// Package devcluster runs a private PostgreSQL cluster from the system's
// binaries for `demsd dev`: initdb on first start under a directory, pg_ctl
// start/stop, reused on the next start. PostgreSQL refuses to run as root,
// so as root the cluster belongs to the postgres system user.
package devcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a private PostgreSQL server.
type Cluster struct {
	Dir     string // data lives in Dir/data, sockets in Dir/run
	Port    int
	BinDir  string
	started bool
	owner   *user.User // nil: the current user
}

// ErrNoPostgres says what to install.
var ErrNoPostgres = errors.New("PostgreSQL server binaries not found: install them with `apt-get install postgresql` (Debian 12 puts initdb and pg_ctl in /usr/lib/postgresql/15/bin), or set OPENDEMS_DEV_PGBIN")

// FindBinDir locates initdb/pg_ctl: $OPENDEMS_DEV_PGBIN, PATH, then the
// newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if d := os.Getenv("OPENDEMS_DEV_PGBIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
		return "", fmt.Errorf("OPENDEMS_DEV_PGBIN=%s has no initdb: %w", d, ErrNoPostgres)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func pgVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// New prepares (but does not start) a cluster under dir.
func New(dir string, port int) (*Cluster, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: abs, Port: port, BinDir: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres system user (created by the postgresql package): %w", err)
		}
		c.owner = u
	}
	return c, nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }
func (c *Cluster) runDir() string  { return filepath.Join(c.Dir, "run") }
func (c *Cluster) logFile() string { return filepath.Join(c.Dir, "run", "postgresql.log") }

// placeForOwner makes Dir usable by the postgres user when running as root.
// If the checkout lives somewhere postgres cannot reach (e.g. under /root,
// mode 0700), the cluster's files go to /var/lib/opendems-dev/<hash> and
// Dir becomes a symlink to them, so the data still appears under ./var.
func (c *Cluster) placeForOwner(ctx context.Context) error {
	if c.owner == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.Dir), 0o755); err != nil {
		return err
	}
	probe := filepath.Dir(c.Dir)
	if exec.CommandContext(ctx, "runuser", "-u", "postgres", "--", "test", "-x", probe).Run() == nil {
		return nil
	}
	if fi, err := os.Lstat(c.Dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil // placed on an earlier start
	}
	h := sha256.Sum256([]byte(c.Dir))
	alt := filepath.Join("/var/lib/opendems-dev", hex.EncodeToString(h[:6]))
	if err := os.MkdirAll(alt, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.Dir), 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(c.Dir); err == nil {
		return fmt.Errorf("%s is not reachable by the postgres user; move it or remove it so it can be placed under %s", c.Dir, alt)
	}
	return os.Symlink(alt, c.Dir)
}

// URL is the superuser connection URL for database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// AppRole is the login role the dev server connects as: a member of
// opendems_app, never a superuser, so the server itself cannot disable the
// append-only triggers or rewrite custody and audit history.
const AppRole = "opendems_dev"

// AppURL is the connection URL of AppRole for database db.
func (c *Cluster) AppURL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", AppRole, c.Port, db)
}

// EnsureAppRole creates AppRole (LOGIN, member of opendems_app, no
// superuser, database or role creation rights) if it is missing and
// returns its URL for db. The schema must be migrated first: migration
// 0002 creates opendems_app.
func (c *Cluster) EnsureAppRole(ctx context.Context, db string) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL(db))
	if err != nil {
		return "", fmt.Errorf("dev app role: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		DO $$
		BEGIN
			CREATE ROLE `+AppRole+` LOGIN;
		EXCEPTION WHEN duplicate_object THEN NULL;
		END
		$$;
		ALTER ROLE `+AppRole+` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
		GRANT opendems_app TO `+AppRole)
	if err != nil {
		return "", fmt.Errorf("dev app role: %w", err)
	}
	return c.AppURL(db), nil
}

func (c *Cluster) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.BinDir, name)
	if c.owner != nil {
		args = append([]string{"-u", "postgres", "--", path}, args...)
		path = "runuser"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	return cmd
}

func (c *Cluster) chown(paths ...string) error {
	if c.owner == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.owner.Uid)
	gid, _ := strconv.Atoi(c.owner.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// Start initializes the cluster on first use and starts it, then makes
// sure database db exists. A cluster left running by a crashed dev server
// is reused.
func (c *Cluster) Start(ctx context.Context, db string) error {
	if err := c.placeForOwner(ctx); err != nil {
		return err
	}
	for _, d := range []string{c.Dir, c.runDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := c.chown(c.runDir()); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(c.dataDir(), 0o700); err != nil {
			return err
		}
		if err := c.chown(c.dataDir()); err != nil {
			return err
		}
		out, err := c.cmd(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput()
		if err != nil {
			return fmt.Errorf("initdb: %v: %s", err, out)
		}
	}
	if st := c.cmd(ctx, "pg_ctl", "status", "-D", c.dataDir()); st.Run() == nil {
		c.started = true // left running earlier; we own it now
	} else {
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.Port, c.runDir())
		out, err := c.cmd(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", c.logFile(), "-o", opts).CombinedOutput()
		if err != nil {
			log, _ := os.ReadFile(c.logFile())
			return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, tail(string(log), 20))
		}
		c.started = true
	}
	return c.ensureDB(ctx, db)
}

func (c *Cluster) ensureDB(ctx context.Context, db string) error {
	var conn *pgx.Conn
	var err error
	for i := 0; i < 50; i++ {
		if conn, err = pgx.Connect(ctx, c.URL("postgres")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("connect to dev PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{db}.Sanitize()); err != nil {
			return err
		}
	}
	return nil
}

// Stop shuts the cluster down cleanly (fast mode: sessions are ended,
// everything committed is on disk).
func (c *Cluster) Stop() error {
	if !c.started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := c.cmd(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", c.dataDir()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	c.started = false
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
