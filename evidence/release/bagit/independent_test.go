package bagit

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBagitPythonValidates has the Library of Congress's bagit-python
// (vendored in testdata, unmodified) fully validate our bags: the
// directory form, and the ZIP unpacked by Python's zipfile. It also
// checks that bagit-python notices a change, so the test can fail.
func TestBagitPythonValidates(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed (installed by .ci/deps.sh test): ", err)
	}
	dir := t.TempDir()
	zipPath, dirPath := writeZip(t, dir), writeDir(t, dir)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(py, append([]string{"testdata/bagit-python/validate.py"}, args...)...).CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{{dirPath}, {"--zip", zipPath}} {
		out, err := run(args...)
		if err != nil || !strings.HasPrefix(out, "OK 250055.5") {
			t.Fatalf("bagit-python %v: %v\n%s", args, err, out)
		}
		t.Logf("bagit-python %v: %s", args[0], strings.TrimSpace(out))
	}
	f := filepath.Join(dirPath, "data", "letter.pdf")
	os.WriteFile(f, []byte("%PDF-1.4 not reallY"), 0o644)
	if out, err := run(dirPath); err == nil || !strings.Contains(out, "letter.pdf") {
		t.Fatalf("bagit-python missed an altered file: %v\n%s", err, out)
	}
}

// TestOpenSSLChecksSignature checks the tag manifest signature with
// OpenSSL (an independent Ed25519 implementation) using the embedded PEM
// key, as docs/releases.md tells a recipient to.
func TestOpenSSLChecksSignature(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed: ", err)
	}
	bag := writeDir(t, t.TempDir())
	sigData, _ := os.ReadFile(filepath.Join(bag, SignatureFile))
	sig, err := ParseSignature(sigData)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sig.Entries {
		sigPath := filepath.Join(t.TempDir(), "sig.bin")
		os.WriteFile(sigPath, e.Sig, 0o644)
		cmd := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", filepath.Join(bag, SigningKey),
			"-rawin", "-in", filepath.Join(bag, e.File), "-sigfile", sigPath)
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("Signature Verified Successfully")) {
			t.Fatalf("openssl %s: %v\n%s", e.File, err, out)
		}
		bad := append([]byte(nil), e.Sig...)
		bad[10] ^= 1
		os.WriteFile(sigPath, bad, 0o644)
		if out, err := exec.Command(openssl, cmd.Args[1:]...).CombinedOutput(); err == nil {
			t.Fatalf("openssl accepted a changed signature: %s", out)
		}
	}
}
