package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValidExceptDatabase(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestLoadLayersFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("server:\n  listen: 0.0.0.0:9000\nworkers:\n  concurrency: 4\n"), 0o600)
	c, err := Load(path, []string{"OPENDEMS_WORKERS_CONCURRENCY=6", "OPENDEMS_SERVER_SESSION_IDLE=5m", "OPENDEMS_DATABASE_URL=postgres://x@h/db", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != "0.0.0.0:9000" {
		t.Errorf("listen = %q", c.Server.Listen)
	}
	if c.Workers.Concurrency != 6 {
		t.Errorf("env did not override file: %d", c.Workers.Concurrency)
	}
	if c.Server.SessionIdle != 5*time.Minute {
		t.Errorf("session_idle = %s", c.Server.SessionIdle)
	}
	if c.Database.URL.Reveal() != "postgres://x@h/db" {
		t.Errorf("database url not set")
	}
}

func TestValidateNamesField(t *testing.T) {
	cases := []struct {
		name  string
		yaml  string
		env   []string
		field string
	}{
		{"bad listen", "server:\n  listen: nope\n", nil, "server.listen"},
		{"bad backend", "storage:\n  backend: tape\n", nil, "storage.backend"},
		{"s3 without endpoint", "storage:\n  backend: s3\n  s3:\n    access_key: a\n    secret_key: b\n", nil, "storage.s3.endpoint"},
		{"s3 endpoint with scheme", "storage:\n  backend: s3\n  s3:\n    endpoint: http://h:9000\n    access_key: a\n    secret_key: b\n", nil, "storage.s3.endpoint"},
		{"s3 bad mode", "storage:\n  backend: s3\n  s3:\n    endpoint: h:9000\n    access_key: a\n    secret_key: b\n    retention_mode: LOOSE\n", nil, "storage.s3.retention_mode"},
		{"small chunk", "ingest:\n  chunk_size: 1024\n", nil, "ingest.chunk_size"},
		{"chunk over s3 part", "ingest:\n  chunk_size: 33554432\nstorage:\n  backend: s3\n  s3:\n    endpoint: h:9000\n    access_key: a\n    secret_key: b\n", nil, "ingest.chunk_size"},
		{"idle over max", "server:\n  session_idle: 24h\n  session_max: 1h\n", nil, "server.session_idle"},
		{"bad level", "log:\n  level: loud\n", nil, "log.level"},
		{"hourly checkpoints", "custody:\n  checkpoint_interval: 1h\n", nil, "custody.checkpoint_interval"},
		{"verify every second", "custody:\n  verify_interval: 1s\n", nil, "custody.verify_interval"},
		{"verify never", "", []string{"OPENDEMS_CUSTODY_VERIFY_INTERVAL=0s"}, "custody.verify_interval"},
		{"bad proxy", "server:\n  trusted_proxies: [\"10.0.0.0/33\"]\n", nil, "server.trusted_proxies"},
		{"bad proxy env", "", []string{"OPENDEMS_SERVER_TRUSTED_PROXIES=10.0.0.1,proxy.local"}, "server.trusted_proxies"},
		{"no mfa attempts", "server:\n  mfa_attempts: 0\n", nil, "server.mfa_attempts"},
		{"bad db url", "database:\n  url: mysql://x\n", nil, "database.url"},
		{"policy model without policy", "policy:\n  model_file: /etc/m.conf\n", nil, "policy.model_file"},
		{"bad clock days", "requests:\n  clock:\n    days: lunar\n", nil, "requests.clock.days"},
		{"bad holiday", "requests:\n  clock:\n    holidays: [\"2026-13-01\"]\n", nil, "requests.clock.holidays[0]"},
		{"bad pause", "requests:\n  clock:\n    pause_on: [weather]\n", nil, "requests.clock.pause_on[0]"},
		{"bad zone", "requests:\n  clock:\n    time_zone: Mars/Olympus\n", nil, "requests.clock.time_zone"},
		{"duplicate exemption", "requests:\n  exemptions:\n    - {code: x, title: a}\n    - {code: x, title: b}\n", nil, "requests.exemptions[1].code"},
		{"no exemptions", "requests:\n  exemptions: []\n", nil, "requests.exemptions"},
		{"bad prefix", "requests:\n  tracking_prefix: par\n", nil, "requests.tracking_prefix"},
		{"unknown env", "", []string{"OPENDEMS_SERVER_LISTN=x"}, "OPENDEMS_SERVER_LISTN"},
		{"bad env int", "", []string{"OPENDEMS_WORKERS_CONCURRENCY=many"}, "OPENDEMS_WORKERS_CONCURRENCY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(path, []byte(tc.yaml), 0o600)
			_, err := Load(path, tc.env)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want FieldError for %s, got %v", tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestUnknownYAMLFieldRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("server:\n  listne: x\n"), 0o600)
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), "listne") {
		t.Fatalf("want error naming listne, got %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	for _, out := range []string{s.String(), s.GoString()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	c := Default()
	c.Storage.S3.SecretKey = "hunter2"
	if strings.Contains(strings.Join([]string{fmtSprint(c)}, ""), "hunter2") {
		t.Fatal("secret leaked through fmt of Config")
	}
}

func TestReadScheduleOnceFromFileOrDefault(t *testing.T) {
	def, err := Policy{}.ReadSchedule()
	if err != nil || len(def.Data) == 0 || def.Source != "configs/policy/retention.yaml" {
		t.Fatalf("default schedule: %q %d bytes %v", def.Source, len(def.Data), err)
	}
	path := filepath.Join(t.TempDir(), "retention.yaml")
	if err := os.WriteFile(path, []byte("x: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Policy{RetentionFile: path}.ReadSchedule()
	if err != nil || f.Source != path || string(f.Data) != "x: 1\n" {
		t.Fatalf("file schedule: %+v %v", f, err)
	}
	if _, err := (Policy{RetentionFile: path + ".missing"}).ReadSchedule(); err == nil || !strings.Contains(err.Error(), "policy.retention_file") {
		t.Fatalf("missing file: %v", err)
	}
}
