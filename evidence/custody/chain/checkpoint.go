package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Checkpoint is a signed Merkle root over every chain head at one moment.
// Anyone holding the server's public key can check that a chain head was
// committed to, so rewriting a whole chain (which keeps it internally
// consistent) is still detected.
type Checkpoint struct {
	ID        int64
	Time      time.Time
	TreeSize  int64
	Root      Hash
	PublicKey ed25519.PublicKey
	Signature []byte
}

// CheckpointMessage returns the exact bytes that are signed: a short text
// so that a person can read what a signature covers.
func (c Checkpoint) CheckpointMessage() []byte {
	var b strings.Builder
	b.WriteString("opendems custody checkpoint v1\n")
	b.WriteString("id " + strconv.FormatInt(c.ID, 10) + "\n")
	b.WriteString("time " + FormatTime(c.Time) + "\n")
	b.WriteString("tree_size " + strconv.FormatInt(c.TreeSize, 10) + "\n")
	b.WriteString("root " + c.Root.String() + "\n")
	return []byte(b.String())
}

// Sign fills PublicKey and Signature from key.
func (c *Checkpoint) Sign(key ed25519.PrivateKey) {
	c.Time = CanonicalTime(c.Time)
	c.PublicKey = key.Public().(ed25519.PublicKey)
	c.Signature = ed25519.Sign(key, c.CheckpointMessage())
}

// VerifySignature checks the signature with the checkpoint's own key and,
// when trusted is not nil, that this key is the trusted one.
func (c Checkpoint) VerifySignature(trusted ed25519.PublicKey) error {
	if len(c.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("checkpoint %d: %w: public key has %d bytes", c.ID, ErrBadPublicKey, len(c.PublicKey))
	}
	if trusted != nil && !trusted.Equal(c.PublicKey) {
		return fmt.Errorf("checkpoint %d: %w (key %s)", c.ID, ErrUntrustedKey, KeyID(c.PublicKey))
	}
	if !ed25519.Verify(c.PublicKey, c.CheckpointMessage(), c.Signature) {
		return fmt.Errorf("checkpoint %d: %w", c.ID, ErrBadSignature)
	}
	return nil
}

// KeyID is a short, stable name for a public key: the first 8 bytes of its
// SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// MarshalPublicKeyPEM returns the PKIX "PUBLIC KEY" PEM form, what
// `openssl pkey -pubin` and most tools read.
func MarshalPublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads an Ed25519 public key from a PKIX PEM block, 64 hex
// digits or standard base64 of the 32 raw bytes (white space around it is
// ignored), so a key copied from the API's JSON or a PEM file both work.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: PEM key is %T, not Ed25519", ErrBadPublicKey, k)
		}
		return pub, nil
	}
	s := strings.TrimSpace(string(b))
	if raw, err := hex.DecodeString(s); err == nil && len(raw) == ed25519.PublicKeySize {
		return ed25519.PublicKey(raw), nil
	}
	if raw, err := base64.StdEncoding.DecodeString(s); err == nil && len(raw) == ed25519.PublicKeySize {
		return ed25519.PublicKey(raw), nil
	}
	return nil, fmt.Errorf("%w: want PEM, 64 hex digits or base64 of 32 bytes", ErrBadPublicKey)
}
