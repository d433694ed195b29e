package releasepkg_test

import (
	"archive/zip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opendems/opendems/evidence/release/bagit"
	"github.com/opendems/opendems/evidence/release/releasepkg"
	"github.com/opendems/opendems/evidence/release/releasepkg/pkgtest"
)

func build(t *testing.T, sizes ...int64) (string, *pkgtest.Fixture) {
	t.Helper()
	dir := t.TempDir()
	f, err := pkgtest.NewFixture(dir, pkgtest.Key(), sizes...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "release.zip")
	if _, err := f.Build(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	return path, f
}

func verify(t *testing.T, path string, key ed25519.PublicKey) (*releasepkg.Report, error) {
	t.Helper()
	b, err := bagit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	return releasepkg.Verify(context.Background(), b, releasepkg.VerifyOptions{TrustedKey: key})
}

func TestBuildAndVerify(t *testing.T) {
	path, _ := build(t, 300_000, 1234, 0)
	for _, key := range []ed25519.PublicKey{nil, pkgtest.Key().Public().(ed25519.PublicKey)} {
		rep, err := verify(t, path, key)
		if err != nil {
			t.Fatalf("key %v: %v", key != nil, err)
		}
		if rep.Clips != 3 || rep.Custody.Events != 9 || rep.Custody.Proofs != 3 || !rep.Custody.KeyTrusted ||
			rep.Events.Events != 4 || rep.Bag.KeyTrusted != (key != nil) || rep.Index.Withheld.Count != 1 {
			t.Fatalf("report: %+v %+v", rep, rep.Custody)
		}
	}
	// The layout of docs/releases.md.
	zr, _ := zip.OpenReader(path)
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, strings.TrimPrefix(f.Name, "release-REQ-2026-0042-7e1ea5e0-0000-4000-8000-000000000001/"))
	}
	got := strings.Join(names, "\n")
	for _, want := range []string{"bagit.txt", "data/clips/cam01-2026-03-01.mp4", "data/reports/cam01-2026-03-01.mp4.redaction.json",
		"data/reports/cam01-2026-03-01.mp4.redaction.csv", "data/reports/cam01-2026-03-01.mp4.render.json", "data/withheld.json",
		"data/withheld.csv", "data/letter.pdf", "data/custody/excerpt.jsonl", "data/custody/release-events.jsonl",
		"data/release.json", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt", "signing-key.pub",
		"tagmanifest-sha256.txt", "tagmanifest-sha512.txt", "signature-ed25519.txt"} {
		if !strings.Contains(got, want+"\n") && !strings.HasSuffix(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
}

// TestReportsCarryExemptions reads a clip report (JSON and CSV) and the
// withheld index back out of the package.
func TestReportsCarryExemptions(t *testing.T) {
	path, _ := build(t, 1000)
	b, _ := bagit.Open(path)
	defer b.Close()
	js, _ := b.ReadFile("data/reports/cam01-2026-03-01.mp4.redaction.json")
	cs, _ := b.ReadFile("data/reports/cam01-2026-03-01.mp4.redaction.csv")
	wj, _ := b.ReadFile("data/withheld.csv")
	for _, want := range []string{`"exemptions": [` + "\n" + `        "b6"`, `"b7(C)"`, `"approved_by": "s.checker"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("report JSON lacks %s:\n%s", want, js)
		}
	}
	if !strings.Contains(string(cs), "face-1,region,12.000,30.500,2.000,20.500,blur strength 40 (ellipse),bystander face,detected,b6,data/clips/cam01-2026-03-01.mp4,") ||
		!strings.Contains(string(cs), ",b7(C),") {
		t.Errorf("report CSV:\n%s", cs)
	}
	if !strings.Contains(string(wj), `"In-car recording, unit 12",b7(A),part of an open investigation`) {
		t.Errorf("withheld CSV:\n%s", wj)
	}
}

// TestLetterIsReadablePDF extracts the letter's text with poppler's
// pdftotext, an independent PDF reader.
func TestLetterIsReadablePDF(t *testing.T) {
	path, f := build(t, 1000)
	b, _ := bagit.Open(path)
	defer b.Close()
	pdf, _ := b.ReadFile(releasepkg.LetterFile)
	file := filepath.Join(t.TempDir(), "letter.pdf")
	os.WriteFile(file, pdf, 0o644)
	out, err := exec.Command("pdftotext", "-layout", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext (poppler-utils, installed by .ci/deps.sh test): %v\n%s", err, out)
	}
	clipSum := ""
	res, _ := verify(t, path, nil)
	for _, p := range res.Bag.Payload {
		if strings.HasSuffix(p.Path, ".mp4") {
			clipSum = p.SHA256
		}
	}
	for _, want := range []string{"Example City Police Department", "Re: Your public records request REQ-2026-0042",
		"Recordings released (1)", clipSum, "Items withheld (1)", "b7(A)", "Verifying this package", res.Bag.KeyID, "Records Officer", "page 1 of 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("letter lacks %q:\n%s", want, out)
		}
	}
	_ = f
}

func TestBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		edit func(s *releasepkg.Spec)
		want error
	}{
		{"clip not what was rendered", func(s *releasepkg.Spec) {
			s.Clips[0].Open = func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader("other bytes")), nil
			}
		}, releasepkg.ErrClipMismatch},
		{"approval of another output", func(s *releasepkg.Spec) {
			a := *s.Clips[0].Approval
			a.OutputSHA256 = strings.Repeat("0", 64)
			s.Clips[0].Approval = &a
		}, releasepkg.ErrClipMismatch},
		{"approval of another spec version", func(s *releasepkg.Spec) { s.Clips[0].SpecVersion = 3 }, releasepkg.ErrClipMismatch},
		{"source not in custody", func(s *releasepkg.Spec) {
			var m map[string]any
			json.Unmarshal(s.Clips[0].RenderReport, &m)
			m["source"].(map[string]any)["sha256"] = strings.Repeat("e", 64)
			s.Clips[0].RenderReport, _ = json.Marshal(m)
		}, releasepkg.ErrNoCustody},
		{"bad exemption code", func(s *releasepkg.Spec) { s.Withheld[0].Exemptions = []string{"b6\nx"} }, releasepkg.ErrInvalidSpec},
		{"no signing key", func(s *releasepkg.Spec) { s.SigningKey = nil }, releasepkg.ErrInvalidSpec},
		{"clip name with path", func(s *releasepkg.Spec) { s.Clips[0].Name = "../x.mp4" }, releasepkg.ErrInvalidSpec},
		{"render report of another item", func(s *releasepkg.Spec) { s.Clips[0].SourceEvidenceID = "5041ce00-0000-4000-8000-000000000077" }, releasepkg.ErrInvalidSpec},
	}
	for i, c := range cases {
		f, err := pkgtest.NewFixture(t.TempDir(), pkgtest.Key(), 5000)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(&f.Spec)
		_, err = f.Build(context.Background(), filepath.Join(dir, c.name+".zip"))
		if !errors.Is(err, c.want) {
			t.Errorf("%d %s: %v", i, c.name, err)
		}
	}
}

// TestBagitPythonValidatesReleasePackage has the vendored bagit-python
// (see ../bagit/testdata/bagit-python) fully validate a built release
// package, unpacked by Python's zipfile.
func TestBagitPythonValidatesReleasePackage(t *testing.T) {
	path, _ := build(t, 300_000, 1000)
	out, err := exec.Command("python3", "../bagit/testdata/bagit-python/validate.py", "--zip", path).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK ") {
		t.Fatalf("bagit-python: %v\n%s", err, out)
	}
	t.Logf("bagit-python: %s", strings.TrimSpace(string(out)))
}
