package receipt

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testKey(t *testing.T, seed byte) ed25519.PrivateKey {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return ed25519.NewKeyFromSeed(s)
}

func signed(t *testing.T, key ed25519.PrivateKey) Receipt {
	t.Helper()
	r, err := Sign(key, Receipt{
		EvidenceID: "0B3C6D0E-1B2A-4E55-9C0A-1234567890AB",
		SHA256:     strings.Repeat("ab", 32),
		Size:       1234,
		IngestedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSignVerifyRoundTripThroughJSON(t *testing.T) {
	key := testKey(t, 1)
	r := signed(t, key)
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Receipt
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	if err := Verify(pub, back); err != nil {
		t.Fatalf("verify after JSON round trip: %v", err)
	}
	if err := VerifyFor(pub, back, strings.Repeat("AB", 32), 1234); err != nil {
		t.Fatalf("VerifyFor: %v", err)
	}
	if back.EvidenceID != "0b3c6d0e-1b2a-4e55-9c0a-1234567890ab" {
		t.Errorf("evidence id not normalized: %q", back.EvidenceID)
	}
	// Signing is deterministic: a re-issued receipt is byte-identical.
	if again := signed(t, key); again != r {
		t.Errorf("re-signing differs:\n%+v\n%+v", again, r)
	}
}

func TestVerifyRejects(t *testing.T) {
	key := testKey(t, 1)
	pub := key.Public().(ed25519.PublicKey)
	good := signed(t, key)
	other := testKey(t, 2)
	otherPub := other.Public().(ed25519.PublicKey)
	forged := good
	forged.KeyID = KeyID(otherPub)

	tests := []struct {
		name   string
		pub    ed25519.PublicKey
		mutate func(*Receipt)
		want   error
	}{
		{"size changed", pub, func(r *Receipt) { r.Size++ }, ErrBadSignature},
		{"hash changed", pub, func(r *Receipt) { r.SHA256 = strings.Repeat("cd", 32) }, ErrBadSignature},
		{"id changed", pub, func(r *Receipt) { r.EvidenceID = "x" }, ErrBadSignature},
		{"time changed", pub, func(r *Receipt) { r.IngestedAt = r.IngestedAt.Add(time.Microsecond) }, ErrBadSignature},
		{"other pinned key", otherPub, func(*Receipt) {}, ErrWrongKey},
		{"key id swapped to pinned key", otherPub, func(r *Receipt) { *r = forged }, ErrBadSignature},
		{"garbage signature", pub, func(r *Receipt) { r.Signature = "!!" }, ErrMalformed},
		{"short hash", pub, func(r *Receipt) { r.SHA256 = "ab" }, ErrMalformed},
		{"version", pub, func(r *Receipt) { r.Version = 2 }, ErrMalformed},
		{"no time", pub, func(r *Receipt) { r.IngestedAt = time.Time{} }, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.mutate(&r)
			err := Verify(tc.pub, r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	if err := VerifyFor(pub, good, strings.Repeat("ab", 32), 1235); !errors.Is(err, ErrMismatch) {
		t.Errorf("VerifyFor wrong size = %v, want ErrMismatch", err)
	}
	if err := VerifyFor(pub, good, strings.Repeat("ac", 32), 1234); !errors.Is(err, ErrMismatch) {
		t.Errorf("VerifyFor wrong hash = %v, want ErrMismatch", err)
	}
}

func TestPublicKeyJSON(t *testing.T) {
	pub := testKey(t, 3).Public().(ed25519.PublicKey)
	pk := NewPublicKey(pub)
	got, err := pk.Key()
	if err != nil || !got.Equal(pub) {
		t.Fatalf("Key() = %v, %v", got, err)
	}
	bad := pk
	bad.KeyID = "0000000000000000"
	if _, err := bad.Key(); !errors.Is(err, ErrMalformed) {
		t.Errorf("mismatched key id: %v", err)
	}
	bad = pk
	bad.Algorithm = "rsa"
	if _, err := bad.Key(); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong algorithm: %v", err)
	}
}
