package bagit

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

func testKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(testSeed) }

var testPayload = []struct{ name, content string }{
	{"clips/clip 1.mp4", strings.Repeat("frame", 50000)},
	{"reports/clip 1.json", `{"exemptions":["b6"]}`},
	{"letter.pdf", "%PDF-1.4 not really"},
	{"withheld/índex.csv", "item,exemption\n"},
	{"empty.txt", ""},
}

func testOptions() Options {
	return Options{
		Info: Info{
			{"Source-Organization", "Example City Police Department"},
			{"Contact-Email", "records@example.org"},
			{"External-Identifier", "REQ-2026-0042"},
			{"Internal-Sender-Description", "Release of redacted body-worn camera footage in response to public records request REQ-2026-0042, approved by a second reviewer; see data/letter.pdf."},
		},
		SigningKey: testKey(),
		Now:        time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
	}
}

func fill(t testing.TB, w *Writer) {
	t.Helper()
	for _, p := range testPayload {
		if _, err := w.AddPayload(context.Background(), p.name, strings.NewReader(p.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeZip writes the test bag to dir/release.zip.
func writeZip(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "release.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewZipWriter(f, "release", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	fill(t, w)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeDir(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "release")
	w, err := NewDirWriter(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	fill(t, w)
	return path
}

func verifyPath(t testing.TB, path string, opt VerifyOptions) (*Report, error) {
	t.Helper()
	b, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return Verify(context.Background(), b, opt)
}

func TestWriteAndVerifyZipAndDir(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{writeZip(t, dir), writeDir(t, dir)} {
		rep, err := verifyPath(t, path, VerifyOptions{TrustedKey: testKey().Public().(ed25519.PublicKey), RequireSignature: true})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !rep.Signed || !rep.KeyTrusted || rep.PayloadFiles != len(testPayload) || rep.TagFiles != 8 {
			t.Fatalf("%s: report %+v", path, rep)
		}
		want := sha256.Sum256([]byte(testPayload[0].content))
		var found bool
		for _, p := range rep.Payload {
			if p.Path == "data/clips/clip 1.mp4" {
				found = p.SHA256 == hex.EncodeToString(want[:])
			}
		}
		if !found {
			t.Fatalf("%s: payload sums %+v", path, rep.Payload)
		}
		if v, _ := rep.Info.Get("Payload-Oxum"); v != "250055.5" {
			t.Fatalf("oxum %q", v)
		}
	}
}

// The ZIP is one base directory, bagit.txt first, manifests after the
// payload, the signature last.
func TestZipLayout(t *testing.T) {
	path := writeZip(t, t.TempDir())
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store {
			t.Errorf("%s: method %d", f.Name, f.Method)
		}
	}
	if names[0] != "release/bagit.txt" || names[len(names)-1] != "release/signature-ed25519.txt" {
		t.Fatalf("order %v", names)
	}
	r, _ := zr.File[0].Open()
	var b bytes.Buffer
	b.ReadFrom(r)
	if b.String() != "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n" {
		t.Fatalf("bagit.txt %q", b.String())
	}
}

func TestUnsignedAndForeignKey(t *testing.T) {
	dir := t.TempDir()
	opt := testOptions()
	opt.SigningKey = nil
	w, err := NewDirWriter(filepath.Join(dir, "unsigned"), opt)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, w)
	if _, err := verifyPath(t, filepath.Join(dir, "unsigned"), VerifyOptions{}); err != nil {
		t.Fatalf("unsigned bag without requirement: %v", err)
	}
	_, err = verifyPath(t, filepath.Join(dir, "unsigned"), VerifyOptions{RequireSignature: true})
	wantFirst(t, err, KindSignature, SignatureFile, 0)

	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)).Public().(ed25519.PublicKey)
	_, err = verifyPath(t, writeDir(t, dir), VerifyOptions{TrustedKey: other})
	wantFirst(t, err, KindSignature, SignatureFile, 2)
}

func wantFirst(t *testing.T, err error, kind, file string, line int) Problem {
	t.Helper()
	var ie *InvalidError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want InvalidError, got %v", err)
	}
	if ie.First.Kind != kind || ie.First.File != file || ie.First.Line != line {
		t.Fatalf("first problem %+v (%v), want %s %s line %d", ie.First, err, kind, file, line)
	}
	return ie.First
}

func TestWriterRefusesBadInput(t *testing.T) {
	var out bytes.Buffer
	if _, err := NewZipWriter(&out, "a/b", Options{}); err == nil {
		t.Error("base name with slash accepted")
	}
	if _, err := NewZipWriter(&out, "r", Options{Info: Info{{"Payload-Oxum", "1.1"}}}); err == nil {
		t.Error("given Payload-Oxum accepted")
	}
	if _, err := NewZipWriter(&out, "r", Options{Info: Info{{"Bad: label", "x"}}}); err == nil {
		t.Error("label with colon accepted")
	}
	if _, err := NewZipWriter(&out, "r", Options{Info: Info{{"Label", "two\nlines"}}}); err == nil {
		t.Error("value with newline accepted")
	}
	w, err := NewZipWriter(&out, "r", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../x", "/abs", "a//b", "a/./b", ""} {
		if _, err := w.AddPayload(context.Background(), name, strings.NewReader("x")); err == nil {
			t.Errorf("payload name %q accepted", name)
		}
	}
	if _, err := w.AddPayload(context.Background(), "x", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddPayload(context.Background(), "x", strings.NewReader("x")); err == nil {
		t.Error("duplicate payload accepted")
	}
	if err := w.AddTagFile("manifest-md5.txt", nil); err == nil {
		t.Error("reserved tag name accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.AddPayload(ctx, "y", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failure succeeded")
	}
}

// TestSHA256OnlyStillChecksEveryByte: recomputing one manifest still
// catches any payload change, and the other manifest is covered by the
// tag manifests.
func TestSHA256OnlyStillChecksEveryByte(t *testing.T) {
	dir := t.TempDir()
	path := writeDir(t, dir)
	opt := VerifyOptions{PayloadAlgorithms: []string{"sha256"}, RequireSignature: true}
	rep, err := verifyPath(t, path, opt)
	if err != nil || len(rep.Recomputed) != 1 || rep.Recomputed[0] != "sha256" || rep.Payload[0].SHA512 != "" {
		t.Fatalf("%v %+v", err, rep)
	}
	f := filepath.Join(path, "data", "letter.pdf")
	orig, _ := os.ReadFile(f)
	os.WriteFile(f, append(bytes.Clone(orig[:len(orig)-1]), 'X'), 0o644)
	_, err = verifyPath(t, path, opt)
	wantFirst(t, err, KindChecksum, "data/letter.pdf", 0)
	os.WriteFile(f, orig, 0o644)
	m := filepath.Join(path, "manifest-sha512.txt")
	data, _ := os.ReadFile(m)
	data[0] ^= 1
	os.WriteFile(m, data, 0o644)
	_, err = verifyPath(t, path, opt)
	wantFirst(t, err, KindChecksum, "manifest-sha512.txt", 0)
}
