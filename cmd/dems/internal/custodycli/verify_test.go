package custodycli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/custody/chain"
)

// writeExport writes a one-item export with a checkpoint and returns the
// file and the key file.
func writeExport(t *testing.T, tamper bool) (string, string, ed25519.PublicKey) {
	t.Helper()
	return writeExportSigned(t, tamper, 4)
}

// writeExportSigned is writeExport with the checkpoint covering the chain
// up to seq signed (of 4).
func writeExportSigned(t *testing.T, tamper bool, signed int) (string, string, ed25519.PublicKey) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	id := uuid.New()
	var buf bytes.Buffer
	x := chain.NewExportWriter(&buf)
	x.Header("evidence:"+id.String(), pub, time.Now())
	prev := chain.ZeroHash
	var events []chain.Event
	for i := 1; i <= 4; i++ {
		e := chain.Event{EvidenceID: id, Seq: int64(i), Time: time.Now(), Actor: "user:jdoe", Action: chain.ActionViewed,
			Details: []byte(`{}`), PrevHash: prev}
		prev = e.Seal()
		if tamper && i == 3 {
			e.Actor = "user:mallory"
		}
		events = append(events, e)
	}
	last := events[signed-1]
	leaf := chain.LeafHash(chain.Leaf{EvidenceID: id, Seq: last.Seq, Hash: last.Hash}.Bytes())
	cp := chain.Checkpoint{ID: 1, Time: time.Now(), TreeSize: 1, Root: chain.MerkleRoot([]chain.Hash{leaf})}
	cp.Sign(priv)
	x.Checkpoint(cp, []chain.ExportProof{{EvidenceID: id, Seq: last.Seq, Hash: last.Hash}})
	for i := range events {
		x.Event(&events[i])
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "export.jsonl")
	os.WriteFile(path, buf.Bytes(), 0o600)
	pemKey, _ := chain.MarshalPublicKeyPEM(pub)
	keyPath := filepath.Join(dir, "key.pem")
	os.WriteFile(keyPath, pemKey, 0o600)
	return path, keyPath, pub
}

func TestVerifyCommand(t *testing.T) {
	ctx := context.Background()
	path, keyPath, _ := writeExport(t, false)
	var out bytes.Buffer
	if err := VerifyCommand(ctx, &out, path, keyPath); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "OK:") || !strings.Contains(out.String(), "trusted") {
		t.Fatalf("output %s", out.String())
	}
	out.Reset()
	if err := VerifyCommand(ctx, &out, path, ""); err != nil || !strings.Contains(out.String(), "NOT checked against a trusted key") {
		t.Fatalf("no key: %v %s", err, out.String())
	}

	bad, badKey, _ := writeExport(t, true)
	out.Reset()
	err := VerifyCommand(ctx, &out, bad, badKey)
	if !errors.Is(err, chain.ErrNotVerified) || !strings.Contains(err.Error(), "seq 3: hash mismatch") ||
		!strings.Contains(out.String(), "FAILED") {
		t.Fatalf("tampered: %v\n%s", err, out.String())
	}
	// A key from another server fails the signature check.
	out.Reset()
	if err := VerifyCommand(ctx, &out, path, badKey); !errors.Is(err, chain.ErrNotVerified) || !strings.Contains(err.Error(), "not the trusted key") {
		t.Fatalf("wrong key: %v", err)
	}
	for name, args := range map[string][2]string{
		"missing file": {filepath.Join(t.TempDir(), "nope"), ""},
		"missing key":  {path, filepath.Join(t.TempDir(), "nope")},
		"bad key":      {path, path},
	} {
		if err := VerifyCommand(ctx, &out, args[0], args[1]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := VerifyCommand(cctx, &out, path, keyPath); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestVerifyCommandNamesUnsignedTail(t *testing.T) {
	path, keyPath, _ := writeExportSigned(t, false, 2)
	var out bytes.Buffer
	if err := VerifyCommand(context.Background(), &out, path, keyPath); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "unsigned tail: 2 events in 1 items") {
		t.Fatalf("output %s", out.String())
	}
}
