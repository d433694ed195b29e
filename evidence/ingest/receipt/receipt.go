package receipt

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the receipt format this package signs.
const Version = 1

// domain separates receipt signatures from anything else the key might sign.
const domain = "opendems-ingest-receipt-v1"

// timeLayout fixes the time to microseconds (PostgreSQL's precision) in UTC,
// so a receipt re-issued from the database signs the same text.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Errors returned by Verify and the parsers.
var (
	ErrBadSignature = errors.New("receipt signature does not verify")
	ErrWrongKey     = errors.New("receipt signed by a different key")
	ErrMismatch     = errors.New("receipt does not match the file")
	ErrMalformed    = errors.New("malformed receipt")
)

// Receipt is what the server returns after it committed an evidence item.
type Receipt struct {
	Version    int       `json:"v"`
	EvidenceID string    `json:"evidence_id"`
	SHA256     string    `json:"sha256"` // lower-case hex
	Size       int64     `json:"size"`
	IngestedAt time.Time `json:"ingested_at"`
	KeyID      string    `json:"key_id"`
	Signature  string    `json:"signature"` // base64 (standard) Ed25519 signature of Canonical()
}

// Canonical is the exact text that is signed: one field per line, fixed
// order, fixed formats.
func (r Receipt) Canonical() []byte {
	var b strings.Builder
	b.WriteString(domain)
	b.WriteByte('\n')
	b.WriteString(strings.ToLower(r.EvidenceID))
	b.WriteByte('\n')
	b.WriteString(strings.ToLower(r.SHA256))
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(r.Size, 10))
	b.WriteByte('\n')
	b.WriteString(r.IngestedAt.UTC().Format(timeLayout))
	b.WriteByte('\n')
	b.WriteString(r.KeyID)
	b.WriteByte('\n')
	return []byte(b.String())
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign fills Version, KeyID and Signature of r with key. IngestedAt is
// truncated to microseconds first so the signed text round-trips.
func Sign(key ed25519.PrivateKey, r Receipt) (Receipt, error) {
	if len(key) != ed25519.PrivateKeySize {
		return Receipt{}, fmt.Errorf("receipt: sign: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if err := r.checkFields(); err != nil {
		return Receipt{}, fmt.Errorf("receipt: sign: %w", err)
	}
	r.Version = Version
	r.EvidenceID = strings.ToLower(r.EvidenceID)
	r.SHA256 = strings.ToLower(r.SHA256)
	r.IngestedAt = r.IngestedAt.UTC().Truncate(time.Microsecond)
	r.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	r.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, r.Canonical()))
	return r, nil
}

func (r Receipt) checkFields() error {
	if r.EvidenceID == "" {
		return fmt.Errorf("%w: empty evidence_id", ErrMalformed)
	}
	if strings.ContainsAny(r.EvidenceID, "\n\r") {
		return fmt.Errorf("%w: evidence_id contains a line break", ErrMalformed)
	}
	if len(r.SHA256) != 64 {
		return fmt.Errorf("%w: sha256 %q is not 64 hex digits", ErrMalformed, r.SHA256)
	}
	if _, err := hex.DecodeString(r.SHA256); err != nil {
		return fmt.Errorf("%w: sha256 %q: %v", ErrMalformed, r.SHA256, err)
	}
	if r.Size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrMalformed, r.Size)
	}
	if r.IngestedAt.IsZero() {
		return fmt.Errorf("%w: no ingested_at", ErrMalformed)
	}
	return nil
}

// Verify checks r's signature against the pinned public key. It does not
// compare r with a file: use Matches for that.
func Verify(pub ed25519.PublicKey, r Receipt) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("receipt: verify: public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if r.Version != Version {
		return fmt.Errorf("receipt: verify: %w: version %d, want %d", ErrMalformed, r.Version, Version)
	}
	if err := r.checkFields(); err != nil {
		return fmt.Errorf("receipt: verify: %w", err)
	}
	if want := KeyID(pub); r.KeyID != want {
		return fmt.Errorf("receipt: verify: %w: key_id %q, pinned %q", ErrWrongKey, r.KeyID, want)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("receipt: verify: %w: signature is not %d base64 bytes", ErrMalformed, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, r.Canonical(), sig) {
		return fmt.Errorf("receipt: verify: %w", ErrBadSignature)
	}
	return nil
}

// VerifyFor checks the signature and that the receipt is about a file with
// the given SHA-256 (hex) and size: what a dock checks before it may release
// the file.
func VerifyFor(pub ed25519.PublicKey, r Receipt, sha256Hex string, size int64) error {
	if err := Verify(pub, r); err != nil {
		return err
	}
	if !strings.EqualFold(r.SHA256, sha256Hex) || r.Size != size {
		return fmt.Errorf("receipt: verify: %w: receipt says %s/%d bytes, file is %s/%d bytes",
			ErrMismatch, r.SHA256, r.Size, strings.ToLower(sha256Hex), size)
	}
	return nil
}

// PublicKey is the JSON form of the receipt-signing key served at
// GET /api/v1/ingest/receipt-key and pinned by docks.
type PublicKey struct {
	Algorithm string `json:"algorithm"` // "ed25519"
	PublicKey string `json:"public_key"`
	KeyID     string `json:"key_id"`
}

// NewPublicKey describes pub.
func NewPublicKey(pub ed25519.PublicKey) PublicKey {
	return PublicKey{Algorithm: "ed25519", PublicKey: base64.StdEncoding.EncodeToString(pub), KeyID: KeyID(pub)}
}

// Key decodes and checks the described key (algorithm, length, key id).
func (p PublicKey) Key() (ed25519.PublicKey, error) {
	if p.Algorithm != "ed25519" {
		return nil, fmt.Errorf("receipt: public key: %w: algorithm %q, want ed25519", ErrMalformed, p.Algorithm)
	}
	raw, err := base64.StdEncoding.DecodeString(p.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("receipt: public key: %w: not %d base64 bytes", ErrMalformed, ed25519.PublicKeySize)
	}
	pub := ed25519.PublicKey(raw)
	if p.KeyID != "" && p.KeyID != KeyID(pub) {
		return nil, fmt.Errorf("receipt: public key: %w: key_id %q does not match the key (%s)", ErrMalformed, p.KeyID, KeyID(pub))
	}
	return pub, nil
}
