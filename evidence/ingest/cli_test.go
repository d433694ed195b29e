package ingest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/ingest/receipt"
)

// binDir holds the commands built for this test process (see TestMain):
// private to the process, so concurrent test runs never share a binary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "opendems-ingest-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// builds remembers what buildCmd built in this process.
var builds sync.Map

// buildCmd builds a command of this module once per test process.
func buildCmd(t testing.TB, pkg string, cgo bool) string {
	t.Helper()
	if p, ok := builds.Load(pkg); ok {
		return p.(string)
	}
	out := filepath.Join(binDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "github.com/opendems/opendems/"+pkg)
	cmd.Env = os.Environ()
	if !cgo {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	builds.Store(pkg, out)
	return out
}

// The dems-dock binary, built with CGO_ENABLED=0 as docking stations get
// it: enroll pins the key; push --json prints one verified receipt per
// file and exits 0 only when every file has one; status shows nothing
// queued.
func TestDemsDockCLI(t *testing.T) {
	e := newEnv(t, "fs")
	bin := buildCmd(t, "cmd/dems-dock", false)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "dock.yaml")
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if out, errs, code := run("enroll", "--server", e.srv.URL, "--token", e.token, "--config", cfgPath); code != 0 {
		t.Fatalf("enroll: %d %s %s", code, out, errs)
	}
	state := filepath.Join(dir, "dems-dock-state")
	pinned, err := dock.LoadPinnedKey(state)
	if err != nil || !pinned.Equal(e.pub()) {
		t.Fatalf("pinned key: %v", err)
	}
	// The starter config needs watched directories: add one.
	b, _ := os.ReadFile(cfgPath)
	cam := filepath.Join(dir, "cam")
	os.MkdirAll(cam, 0o755)
	os.WriteFile(cfgPath, []byte(strings.Replace(string(b), "watch: []", "watch: [{path: "+cam+"}]", 1)), 0o640)

	files := []string{writeRandom(t, dir, "a.mp4", testChunk+3), writeRandom(t, dir, "b.mp4", 10)}
	out, errs, code := run(append([]string{"push", "--config", cfgPath, "--json", "--officer", "b9", "--source", "cctv"}, files...)...)
	if code != 0 {
		t.Fatalf("push: exit %d\n%s\n%s", code, out, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	seen := map[string]bool{}
	for sc.Scan() {
		var line map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("push output line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"file", "sha256", "size", "evidence_id", "receipt"} {
			if _, ok := line[k]; !ok || len(line) != 5 {
				t.Fatalf("line %s: want exactly file, sha256, size, evidence_id, receipt", sc.Text())
			}
		}
		var pl dock.PushLine
		json.Unmarshal(sc.Bytes(), &pl)
		if err := receipt.VerifyFor(e.pub(), pl.Receipt, sha256File(t, pl.File), pl.Size); err != nil {
			t.Errorf("%s: %v", pl.File, err)
		}
		seen[pl.File] = true
	}
	if len(seen) != len(files) {
		t.Fatalf("receipts for %v, want %v", seen, files)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items WHERE officer_id = 'b9' AND source_kind = 'cctv'`); n != 2 {
		t.Errorf("%d items with the flags' metadata", n)
	}
	// A missing file and a good one: exit 1, one receipt.
	out, _, code = run("push", "--config", cfgPath, "--json", filepath.Join(dir, "missing.mp4"), files[1])
	if code != 1 || strings.Count(out, "\n") != 1 {
		t.Errorf("push with a missing file: exit %d, output %q", code, out)
	}
	// A revoked dock: exit 1, no receipt.
	if err := e.ids.RevokeDock(t.Context(), e.dockID); err != nil {
		t.Fatal(err)
	}
	if out, _, code = run("push", "--config", cfgPath, "--json", writeRandom(t, dir, "c.mp4", 5)); code != 1 || out != "" {
		t.Errorf("revoked push: exit %d, output %q", code, out)
	}
	// Usage errors exit 2.
	if _, _, code = run("push", "--server", e.srv.URL, "--token", "x", "--source", "drone", files[1]); code != 2 {
		t.Errorf("bad --source: exit %d", code)
	}
	out, errs, code = run("status", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "queue: 0 file(s)") {
		t.Errorf("status: %d %q %q", code, out, errs)
	}
}
