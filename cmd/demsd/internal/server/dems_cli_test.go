package server

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemsCLIAdministers drives the real, CGO-free dems binary against the
// assembled server: units, users and docks are administered through the
// API, and failures exit non-zero with the server's message.
func TestDemsCLIAdministers(t *testing.T) {
	_, srv, creds := leadTestApp(t)
	bin := filepath.Join(t.TempDir(), "dems")
	build := exec.Command("go", "build", "-o", bin, "github.com/opendems/opendems/cmd/dems")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dems: %v\n%s", err, out)
	}
	run := func(token string, env []string, args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"--server", srv.URL, "--token", token}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	admin := credUser(creds, "admin", "").APIToken
	if out, err := run(admin, nil, "unit", "create", "traffic", "--name", "Traffic", "--parent", "hq"); err != nil || !strings.Contains(out, "hq.traffic") {
		t.Fatalf("unit create: %v %s", err, out)
	}
	out, err := run(admin, []string{"DEMS_NEW_PASSWORD=a long enough password"}, "--json", "user", "create", "t.jones", "--role", "officer", "--unit", "traffic", "--badge", "T1204")
	if err != nil {
		t.Fatalf("user create: %v %s", err, out)
	}
	var created struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.User.ID == "" {
		t.Fatalf("user create output %q: %v", out, err)
	}
	if out, err := run(admin, nil, "user", "list"); err != nil || !strings.Contains(out, "t.jones") || !strings.Contains(out, "hq.traffic") {
		t.Fatalf("user list: %v %s", err, out)
	}
	out, err = run(admin, nil, "--json", "dock", "enroll", "garage-3", "--unit", "traffic")
	if err != nil {
		t.Fatalf("dock enroll: %v %s", err, out)
	}
	var enrolled struct {
		Token string `json:"token"`
		Dock  struct {
			ID string `json:"id"`
		} `json:"dock"`
	}
	json.Unmarshal([]byte(out), &enrolled)
	if !strings.HasPrefix(enrolled.Token, "odd_") {
		t.Fatalf("dock token: %s", out)
	}
	if out, err := run(admin, nil, "dock", "revoke", enrolled.Dock.ID); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("dock revoke: %v %s", err, out)
	}
	if out, err := run(admin, nil, "user", "update", created.User.ID, "--role", "supervisor"); err != nil || !strings.Contains(out, "supervisor") {
		t.Fatalf("user update: %v %s", err, out)
	}
	// An officer's token is refused, with the server's reason, and a
	// non-zero exit.
	officer := credUser(creds, "officer", "north").APIToken
	out, err = run(officer, nil, "user", "list")
	if err == nil || !strings.Contains(out, "403") {
		t.Fatalf("non-admin user list: %v %s", err, out)
	}

	// Personal tokens: create (expiry within the maximum), list, revoke.
	out, err = run(officer, nil, "--json", "token", "create", "--name", "laptop", "--expires", "24h")
	var tok struct {
		Token string `json:"token"`
		Info  struct {
			ID        string `json:"id"`
			ExpiresAt string `json:"expires_at"`
		} `json:"info"`
	}
	if err != nil || json.Unmarshal([]byte(out), &tok) != nil || !strings.HasPrefix(tok.Token, "odt_") || tok.Info.ExpiresAt == "" {
		t.Fatalf("token create: %v %s", err, out)
	}
	if out, err := run(officer, nil, "token", "create", "--expires", "100000h"); err == nil || !strings.Contains(out, "expires_at") {
		t.Fatalf("token beyond the maximum: %v %s", err, out)
	}
	if out, err := run(tok.Token, nil, "token", "list"); err != nil || !strings.Contains(out, "laptop") || !strings.Contains(out, tok.Info.ID) {
		t.Fatalf("token list: %v %s", err, out)
	}
	if out, err := run(officer, nil, "token", "revoke", tok.Info.ID); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %v %s", err, out)
	}
	if out, err := run(tok.Token, nil, "token", "list"); err == nil || !strings.Contains(out, "401") {
		t.Fatalf("revoked token still works: %v %s", err, out)
	}
}
