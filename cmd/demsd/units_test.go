package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/configs"
)

// unit is a systemd unit file: section -> key -> values (keys repeat).
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSystemdUnits checks the shipped units against the program: every
// OPENDEMS_ variable they set is an option the configuration knows, every
// command and flag they run exists, and the hardening options are there.
// systemd-analyze verifies the syntax where it is installed.
func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "ops", "systemd")
	cmds := map[string]*cobra.Command{"serve": serveCmd(), "worker": workerCmd(), "migrate": migrateCmd()}
	hardening := []string{"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
		"CapabilityBoundingSet", "RestrictAddressFamilies", "SystemCallFilter", "MemoryDenyWriteExecute", "User"}
	for _, name := range []string{"demsd-serve.service", "demsd-worker.service"} {
		path := filepath.Join(dir, name)
		u := readUnit(t, path)
		svc := u["Service"]
		if svc == nil || u["Unit"] == nil || u["Install"] == nil {
			t.Fatalf("%s: sections %v", name, u)
		}
		for _, k := range hardening {
			if len(svc[k]) == 0 {
				t.Errorf("%s: no %s=", name, k)
			}
		}
		var env []string
		for _, e := range svc["Environment"] {
			env = append(env, strings.Trim(e, `"`))
		}
		cfg := configs.Default()
		if err := configs.ApplyEnv(&cfg, env); err != nil {
			t.Errorf("%s: Environment: %v", name, err)
		}
		for _, line := range append(svc["ExecStartPre"], svc["ExecStart"]...) {
			f := strings.Fields(line)
			if len(f) < 2 || filepath.Base(f[0]) != "demsd" {
				t.Errorf("%s: %q does not run demsd", name, line)
				continue
			}
			c := cmds[f[1]]
			if c == nil {
				t.Errorf("%s: %q: no command %q", name, line, f[1])
				continue
			}
			if err := c.ParseFlags(f[2:]); err != nil {
				t.Errorf("%s: %q: %v", name, line, err)
			}
		}
		want := map[string]string{"demsd-serve.service": "serve", "demsd-worker.service": "worker"}[name]
		if len(svc["ExecStart"]) != 1 || !strings.Contains(svc["ExecStart"][0], " "+want+" ") {
			t.Errorf("%s: ExecStart %v, want demsd %s", name, svc["ExecStart"], want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		return // syntax is checked where systemd is installed (Debian CI is)
	}
	// verify needs the ExecStart binary to exist: point the units at this
	// test binary.
	tmp := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range []string{"demsd-serve.service", "demsd-worker.service"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/demsd", self)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
