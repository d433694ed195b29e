package releasepkg_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opendems/opendems/evidence/release/releasepkg"
	"github.com/opendems/opendems/evidence/release/releasepkg/pkgtest"
)

// TestReleaseLayerTamperNamed re-bags edited packages with the agency key
// itself (a valid bag around altered content, as only an insider or a bug
// could make) and checks that the release checks name the fault.
func TestReleaseLayerTamperNamed(t *testing.T) {
	path, _ := build(t, 2000, 3000)
	key := pkgtest.Key()
	const clip = "data/clips/cam01-2026-03-01.mp4"
	const report = "data/reports/cam01-2026-03-01.mp4.redaction.json"
	cases := []struct {
		name  string
		key   ed25519.PrivateKey
		edit  func(name string, data []byte) []byte
		kind  string
		file  string
		event string
	}{
		{"clip swapped, reports kept", key, func(n string, d []byte) []byte {
			if n == clip {
				return append(d, 0)
			}
			return d
		}, releasepkg.KindIndex, releasepkg.IndexFile, ""},
		{"report names another output", key, func(n string, d []byte) []byte {
			if n == report {
				return replaceSum(d, `"output": {`)
			}
			return d
		}, releasepkg.KindReport, report, ""},
		{"ingested event altered", key, func(n string, d []byte) []byte {
			if n == releasepkg.CustodyFile {
				return bytes.Replace(d, []byte(`"size":1073741824`), []byte(`"size":1073741825`), 1)
			}
			return d
		}, releasepkg.KindCustody, releasepkg.CustodyFile, "evidence 5041ce00-0000-4000-8000-000000000001 seq 1"},
		{"release event dropped", key, func(n string, d []byte) []byte {
			if n == releasepkg.ReleaseEventsFile {
				lines := strings.SplitAfter(string(d), "\n")
				return []byte(strings.Join(append(lines[:2:2], lines[3:]...), ""))
			}
			return d
		}, releasepkg.KindCustody, releasepkg.ReleaseEventsFile, "evidence 7e1ea5e0-0000-4000-8000-000000000001 seq 3"},
		{"custody excerpt dropped", key, func(n string, d []byte) []byte {
			if n == releasepkg.CustodyFile {
				return nil
			}
			return d
		}, releasepkg.KindIndex, releasepkg.IndexFile, ""},
		{"re-signed by another key", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), func(n string, d []byte) []byte { return d },
			releasepkg.KindIndex, releasepkg.IndexFile, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "tampered.zip")
			if err := pkgtest.Rebag(path, dst, c.key, c.edit); err != nil {
				t.Fatal(err)
			}
			rep, err := verify(t, dst, nil)
			var ve *releasepkg.VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, releasepkg.ErrNotVerified) {
				t.Fatalf("want VerifyError, got %v", err)
			}
			if !rep.Bag.OK() {
				t.Fatalf("the re-bagged package should be a valid bag: %v", rep.Bag.Problems)
			}
			t.Logf("%s", ve.First)
			if ve.First.Kind != c.kind || ve.First.File != c.file || ve.First.Event != c.event {
				t.Fatalf("first problem %+v", ve.First)
			}
		})
	}
	// With the trusted key, the foreign re-signing fails at the bag.
	dst := filepath.Join(t.TempDir(), "foreign.zip")
	pkgtest.Rebag(path, dst, cases[len(cases)-1].key, func(n string, d []byte) []byte { return d })
	_, err := verify(t, dst, key.Public().(ed25519.PublicKey))
	var ve *releasepkg.VerifyError
	if !errors.As(err, &ve) || ve.First.Kind != "signature" || ve.First.File != "signature-ed25519.txt" {
		t.Fatalf("foreign key with trusted key: %v", err)
	}
}

// replaceSum changes the first sha256 after marker.
func replaceSum(d []byte, marker string) []byte {
	s := string(d)
	i := strings.Index(s, marker)
	j := strings.Index(s[i:], `"sha256": "`) + i + len(`"sha256": "`)
	c := byte('0')
	if s[j] == '0' {
		c = '1'
	}
	return []byte(s[:j] + string(c) + s[j+1:])
}
