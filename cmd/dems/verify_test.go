package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opendems/opendems/evidence/release/bagit"
	"github.com/opendems/opendems/evidence/release/releasepkg/pkgtest"
)

// buildDems builds the real, CGO-free binary.
func buildDems(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dems")
	build := exec.Command("go", "build", "-o", bin, "github.com/opendems/opendems/cmd/dems")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dems: %v\n%s", err, out)
	}
	return bin
}

func runDems(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "DEMS_SERVER=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestDemsVerify drives `dems verify` on a real package: good as ZIP and
// as directory, then each kind of tampering, each named exactly with exit
// status 2.
func TestDemsVerify(t *testing.T) {
	bin := buildDems(t)
	dir := t.TempDir()
	f, err := pkgtest.NewFixture(dir, pkgtest.Key(), 200_000, 5000)
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "release.zip")
	if _, err := f.Build(context.Background(), pkg); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "agency.pub")
	pem, _ := bagit.MarshalPublicKeyPEM(pkgtest.Key().Public().(ed25519.PublicKey))
	os.WriteFile(keyFile, pem, 0o644)

	out, code := runDems(t, bin, "verify", pkg)
	if code != 0 || !strings.Contains(out, "OK: every file") || !strings.Contains(out, "NOT checked against a trusted key") ||
		!strings.Contains(out, "request REQ-2026-0042") || !strings.Contains(out, "custody excerpt: 2 items, 6 events, 1 checkpoints, 2 inclusion proofs") {
		t.Fatalf("good package: exit %d\n%s", code, out)
	}
	out, code = runDems(t, bin, "verify", "--key", keyFile, pkg)
	if code != 0 || !strings.Contains(out, "trusted (--key "+keyFile+")") {
		t.Fatalf("--key: exit %d\n%s", code, out)
	}
	out, code = runDems(t, bin, "verify", "--sha256-only", pkg)
	if code != 0 || !strings.Contains(out, "payload checksums recomputed: sha256)") {
		t.Fatalf("--sha256-only: exit %d\n%s", code, out)
	}
	out, code = runDems(t, bin, "--json", "verify", pkg)
	var js struct {
		OK  bool `json:"ok"`
		Bag struct {
			PayloadFiles int `json:"payload_files"`
		} `json:"bag"`
		Clips int `json:"clips_checked"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || code != 0 || !js.OK || js.Clips != 2 || js.Bag.PayloadFiles != 14 {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}
	// The directory form: the ZIP unpacked.
	unpacked := unzip(t, pkg, filepath.Join(dir, "unpacked"))
	if out, code := runDems(t, bin, "verify", "--key", keyFile, unpacked); code != 0 {
		t.Fatalf("directory: exit %d\n%s", code, out)
	}

	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	otherFile := filepath.Join(dir, "other.pub")
	opem, _ := bagit.MarshalPublicKeyPEM(other.Public().(ed25519.PublicKey))
	os.WriteFile(otherFile, opem, 0o644)
	clip := "data/clips/cam01-2026-03-01.mp4"
	cases := []struct {
		name   string
		tamper func(t *testing.T, dst string)
		args   []string
		want   string
	}{
		{"one byte of a clip", func(t *testing.T, dst string) { flipInEntry(t, pkg, dst, clip, 123_456) }, nil,
			"first: " + clip + ": content does not match manifest-sha256.txt line 1, manifest-sha512.txt line 1"},
		{"a manifest line", func(t *testing.T, dst string) {
			editEntry(t, pkg, dst, "manifest-sha256.txt", func(d []byte) []byte {
				lines := strings.SplitAfter(string(d), "\n")
				lines[2] = strings.Replace(lines[2], lines[2][:1], string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", lines[2][0])+1)%16]), 1)
				return []byte(strings.Join(lines, ""))
			})
		}, nil, "first: manifest-sha256.txt line 3: entry for data/custody/excerpt.jsonl does not match the file"},
		{"a dropped file", func(t *testing.T, dst string) {
			editEntry(t, pkg, dst, "data/withheld.csv", func([]byte) []byte { return nil })
		}, nil, "first: manifest-sha256.txt line 13: lists data/withheld.csv, which is not in the bag"},
		{"a foreign signature", func(t *testing.T, dst string) {
			if err := pkgtest.Rebag(pkg, dst, other, func(_ string, d []byte) []byte { return d }); err != nil {
				t.Fatal(err)
			}
		}, []string{"--key", keyFile}, "first: signature-ed25519.txt line 2: signed by key "},
		{"a trusted key that is not the package's", func(t *testing.T, dst string) {
			b, _ := os.ReadFile(pkg)
			os.WriteFile(dst, b, 0o644)
		}, []string{"--key", otherFile}, "first: signature-ed25519.txt line 2: signed by key " + bagit.KeyID(pkgtest.Key().Public().(ed25519.PublicKey)) + ", not by the trusted key " + bagit.KeyID(other.Public().(ed25519.PublicKey))},
		{"a custody event", func(t *testing.T, dst string) {
			if err := pkgtest.Rebag(pkg, dst, pkgtest.Key(), func(n string, d []byte) []byte {
				if n == "data/custody/excerpt.jsonl" {
					return bytes.Replace(d, []byte(`"actor":"user:s.checker"`), []byte(`"actor":"user:x.checker"`), 1)
				}
				return d
			}); err != nil {
				t.Fatal(err)
			}
		}, nil, "first: data/custody/excerpt.jsonl line 7 evidence 5041ce00-0000-4000-8000-000000000001 seq 3: hash_mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "tampered.zip")
			c.tamper(t, dst)
			out, code := runDems(t, bin, append(append([]string{"verify"}, c.args...), dst)...)
			if code != 2 || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want 2 and %q in\n%s", code, c.want, out)
			}
		})
	}
}

// TestDemsVerifyPinsServerKey fetches the key from --server, pins it, and
// refuses when the server later serves another key.
func TestDemsVerifyPinsServerKey(t *testing.T) {
	bin := buildDems(t)
	dir := t.TempDir()
	f, err := pkgtest.NewFixture(dir, pkgtest.Key(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "release.zip")
	if _, err := f.Build(context.Background(), pkg); err != nil {
		t.Fatal(err)
	}
	serve := pkgtest.Key().Public().(ed25519.PublicKey)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/custody/public-key" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"algorithm": "Ed25519", "key_id": bagit.KeyID(serve),
			"public_key": base64.StdEncoding.EncodeToString(serve)})
	}))
	defer srv.Close()
	pins := filepath.Join(dir, "pins")
	out, code := runDems(t, bin, "verify", "--server", srv.URL, "--pin-dir", pins, pkg)
	if code != 0 || !strings.Contains(out, "pinned now") {
		t.Fatalf("first use: exit %d\n%s", code, out)
	}
	out, code = runDems(t, bin, "verify", "--server", srv.URL, "--pin-dir", pins, pkg)
	if code != 0 || !strings.Contains(out, "confirmed by the server") {
		t.Fatalf("second use: exit %d\n%s", code, out)
	}
	serve = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)).Public().(ed25519.PublicKey)
	out, code = runDems(t, bin, "verify", "--server", srv.URL, "--pin-dir", pins, pkg)
	if code != 1 || !strings.Contains(out, "is pinned for it") {
		t.Fatalf("changed server key: exit %d\n%s", code, out)
	}
}

func unzip(t *testing.T, zipPath, dest string) string {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var base string
	for _, f := range zr.File {
		base, _, _ = strings.Cut(f.Name, "/")
		p := filepath.Join(dest, filepath.FromSlash(f.Name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		r, _ := f.Open()
		data, _ := io.ReadAll(r)
		r.Close()
		os.WriteFile(p, data, 0o644)
	}
	return filepath.Join(dest, base)
}

// flipInEntry copies the ZIP with one byte of an entry's data changed.
func flipInEntry(t *testing.T, src, dst, entry string, offset int64) {
	t.Helper()
	data, _ := os.ReadFile(src)
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/"+entry) {
			off, _ := f.DataOffset()
			data[off+offset] ^= 0x20
			os.WriteFile(dst, data, 0o644)
			return
		}
	}
	t.Fatalf("no entry %s", entry)
}

// editEntry copies the ZIP with one entry's content replaced (nil drops it).
func editEntry(t *testing.T, src, dst, entry string, edit func([]byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, "/"+entry) {
			zw.Copy(f)
			continue
		}
		r, _ := f.Open()
		d, _ := io.ReadAll(r)
		r.Close()
		if d = edit(d); d != nil {
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
			w.Write(d)
		}
	}
	zw.Close()
	os.WriteFile(dst, out.Bytes(), 0o644)
}
