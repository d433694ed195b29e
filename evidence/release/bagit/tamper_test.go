package bagit

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// smallBag writes a signed directory bag whose every file is small enough
// to flip each of its bytes in turn.
func smallBag(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "small")
	w, err := NewDirWriter(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ n, c string }{{"a.txt", "alpha\n"}, {"sub/b c.bin", "\x00\x01\x02"}} {
		if _, err := w.AddPayload(context.Background(), p.n, strings.NewReader(p.c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEveryByteOfADirectoryBagIsCovered flips every byte of every file of
// a signed bag, one at a time, and requires that verification fails and
// names that very file first (a manifest's own line counts as naming it).
func TestEveryByteOfADirectoryBagIsCovered(t *testing.T) {
	path := smallBag(t, t.TempDir())
	trusted := testKey().Public().(ed25519.PublicKey)
	var names []string
	filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(path, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	flips := 0
	for _, name := range names {
		full := filepath.Join(path, filepath.FromSlash(name))
		orig, err := os.ReadFile(full)
		if err != nil {
			t.Fatal(err)
		}
		for i := range orig {
			for _, mask := range []byte{0x01, 0x80} {
				mod := bytes.Clone(orig)
				mod[i] ^= mask
				os.WriteFile(full, mod, 0o644)
				opts := []VerifyOptions{{TrustedKey: trusted, RequireSignature: true}}
				if name == SignatureFile || name == SigningKey {
					opts = append(opts, VerifyOptions{RequireSignature: true}) // the embedded key alone
				}
				for _, opt := range opts {
					_, err := verifyPath(t, path, opt)
					ie, ok := err.(*InvalidError)
					if !ok {
						t.Fatalf("%s byte %d ^%#x: not detected (%v)", name, i, mask, err)
					}
					if ie.First.File != name {
						t.Fatalf("%s byte %d ^%#x: first problem names %v", name, i, mask, ie.First)
					}
				}
				flips++
			}
		}
		os.WriteFile(full, orig, 0o644)
	}
	if _, err := verifyPath(t, path, VerifyOptions{TrustedKey: trusted}); err != nil {
		t.Fatalf("restored bag: %v", err)
	}
	t.Logf("%d single-byte changes in %d files, each named", flips, len(names))
}

// TestEveryContentByteOfAZipIsCovered flips every byte inside every ZIP
// entry's data.
func TestEveryContentByteOfAZipIsCovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "release.zip")
	zf, _ := os.Create(path)
	w, err := NewZipWriter(zf, "release", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ n, c string }{{"a.txt", "alpha\n"}, {"sub/b c.bin", strings.Repeat("\x00\x01\x02", 3000)}} {
		if _, err := w.AddPayload(context.Background(), p.n, strings.NewReader(p.c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	orig, _ := os.ReadFile(path)
	zr, err := zip.NewReader(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		off, _ := f.DataOffset()
		name := strings.TrimPrefix(f.Name, "release/")
		step := int64(1)
		if f.CompressedSize64 > 4096 {
			step = int64(f.CompressedSize64) / 97
		}
		for i := int64(0); i < int64(f.CompressedSize64); i += step {
			mod := bytes.Clone(orig)
			mod[off+i] ^= 0x04
			os.WriteFile(path, mod, 0o644)
			_, err := verifyPath(t, path, VerifyOptions{RequireSignature: true})
			ie, ok := err.(*InvalidError)
			if !ok || ie.First.File != name {
				t.Fatalf("%s byte %d: %v", name, i, err)
			}
		}
	}
}

func rewriteZip(t *testing.T, path string, edit func(name string, data []byte) ([]byte, bool)) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		r, _ := f.Open()
		data, _ := io.ReadAll(r)
		r.Close()
		data, keep := edit(strings.TrimPrefix(f.Name, "release/"), data)
		if !keep {
			continue
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store, Modified: time.Now()})
		w.Write(data)
	}
	zr.Close()
	zw.Close()
	os.WriteFile(path, out.Bytes(), 0o644)
}

func TestTamperedZipNamed(t *testing.T) {
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	trusted := testKey().Public().(ed25519.PublicKey)
	cases := []struct {
		name string
		edit func(name string, data []byte) ([]byte, bool)
		opt  VerifyOptions
		kind string
		file string
		line int
	}{
		{"dropped payload file", func(n string, d []byte) ([]byte, bool) { return d, n != "data/letter.pdf" },
			VerifyOptions{}, KindMissing, "manifest-sha256.txt", 3},
		{"added payload file", nil, VerifyOptions{}, KindUnlisted, "data/extra.bin", 0},
		{"altered manifest line", func(n string, d []byte) ([]byte, bool) {
			if n == "manifest-sha512.txt" {
				lines := strings.SplitAfter(string(d), "\n")
				lines[1] = "0" + lines[1][1:]
				if lines[1] == string(bytes.SplitAfter(d, []byte("\n"))[1]) {
					lines[1] = "1" + lines[1][1:]
				}
				return []byte(strings.Join(lines, "")), true
			}
			return d, true
		}, VerifyOptions{}, KindManifestLine, "manifest-sha512.txt", 2},
		{"altered payload", func(n string, d []byte) ([]byte, bool) {
			if n == "data/reports/clip 1.json" {
				return bytes.Replace(d, []byte("b6"), []byte("b7"), 1), true
			}
			return d, true
		}, VerifyOptions{}, KindChecksum, "data/reports/clip 1.json", 0},
		{"foreign signature, embedded key kept", func(n string, d []byte) ([]byte, bool) {
			if n == SignatureFile {
				return resign(t, d, other, nil), true
			}
			return d, true
		}, VerifyOptions{}, KindSignature, SignatureFile, 3},
		{"foreign signature and key", nil, VerifyOptions{TrustedKey: trusted}, KindSignature, SignatureFile, 2},
		{"dropped signature", func(n string, d []byte) ([]byte, bool) { return d, n != SignatureFile },
			VerifyOptions{RequireSignature: true}, KindSignature, SignatureFile, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeZip(t, t.TempDir())
			switch c.name {
			case "added payload file":
				rewriteZip(t, path, func(n string, d []byte) ([]byte, bool) { return d, true })
				addToZip(t, path, "release/data/extra.bin", []byte("smuggled"))
			case "foreign signature and key":
				// A whole consistent re-signing with another key: only a
				// trusted key tells.
				resignBag(t, path, other)
				if _, err := verifyPath(t, path, VerifyOptions{RequireSignature: true}); err != nil {
					t.Fatalf("re-signed bag should verify with its own key: %v", err)
				}
			default:
				rewriteZip(t, path, c.edit)
			}
			_, err := verifyPath(t, path, c.opt)
			wantFirst(t, err, c.kind, c.file, c.line)
		})
	}
}

// resign signs the tag manifests again with key (nil: keep Key-Id).
func resign(t *testing.T, sigFile []byte, key ed25519.PrivateKey, manifests map[string][]byte) []byte {
	s, err := ParseSignature(sigFile)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Entries {
		msg := manifests[s.Entries[i].File]
		if msg == nil {
			msg = []byte("whatever")
		}
		s.Entries[i].Sig = ed25519.Sign(key, msg)
	}
	if manifests != nil {
		s.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	}
	return s.Format()
}

// resignBag rewrites signing-key.pub, both tag manifests and the
// signature, as someone holding another key would.
func resignBag(t *testing.T, path string, key ed25519.PrivateKey) {
	files := map[string][]byte{}
	rewriteZip(t, path, func(n string, d []byte) ([]byte, bool) { files[n] = d; return d, true })
	pem, _ := MarshalPublicKeyPEM(key.Public().(ed25519.PublicKey))
	files[SigningKey] = pem
	mans := map[string][]byte{}
	for _, alg := range Algorithms {
		var b bytes.Buffer
		for _, n := range []string{BagInfoFile, BagItFile, ManifestName("sha256"), ManifestName("sha512"), SigningKey} {
			formatManifestLine(&b, sumBytes(alg, files[n]), n)
		}
		mans[TagManifestName(alg)] = b.Bytes()
	}
	sig := resign(t, files[SignatureFile], key, mans)
	rewriteZip(t, path, func(n string, d []byte) ([]byte, bool) {
		switch {
		case n == SigningKey:
			return pem, true
		case n == SignatureFile:
			return sig, true
		case mans[n] != nil:
			return mans[n], true
		}
		return d, true
	})
}

func addToZip(t *testing.T, path, name string, data []byte) {
	rewriteZip(t, path, func(n string, d []byte) ([]byte, bool) { return d, true })
	zr, _ := zip.OpenReader(path)
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		zw.Copy(f)
	}
	w, _ := zw.Create(name)
	w.Write(data)
	zr.Close()
	zw.Close()
	os.WriteFile(path, out.Bytes(), 0o644)
}

// TestEveryByteOfAZipIsCovered flips every byte of a small signed ZIP bag
// and requires that verification fails, except in the central directory
// fields that carry neither a name nor content (CentralOnlyFields: version
// made by, file attributes), which are listed in docs/releases.md.
func TestEveryByteOfAZipIsCovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "release.zip")
	zf, _ := os.Create(path)
	w, err := NewZipWriter(zf, "release", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	w.AddPayload(context.Background(), "a.txt", strings.NewReader("alpha\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	orig, _ := os.ReadFile(path)
	// The central headers' offsets, to know which bytes are left out.
	free := map[int]bool{}
	dirOff, _, err := centralDirectory(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	for off := int(dirOff); off+46 <= len(orig) && string(orig[off:off+4]) == "PK\x01\x02"; {
		for _, r := range CentralOnlyFields {
			for i := r[0]; i < r[1]; i++ {
				free[off+i] = true
			}
		}
		off += 46 + int(orig[off+28]) + int(orig[off+29])<<8 + int(orig[off+30]) + int(orig[off+31])<<8
	}
	if len(free) != 9*8 {
		t.Fatalf("found %d free bytes, want 8 in each of 9 central headers", len(free))
	}
	for i := range orig {
		mod := bytes.Clone(orig)
		mod[i] ^= 0x01
		os.WriteFile(path, mod, 0o644)
		_, err := verifyPath(t, path, VerifyOptions{RequireSignature: true})
		if free[i] != (err == nil) {
			t.Fatalf("byte %d of %d (0x%x): free %v, verify: %v", i, len(orig), i, free[i], err)
		}
	}
}
