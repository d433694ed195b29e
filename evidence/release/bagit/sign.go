package bagit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/opendems/opendems/evidence/custody/chain"
)

// The signing key is the agency's Ed25519 key, the same kind of key (and
// by default the same key) that signs custody checkpoints, so key ids,
// PEM form and parsing are the custody package's.
var (
	// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
	KeyID = chain.KeyID
	// MarshalPublicKeyPEM gives the PKIX PEM form written to signing-key.pub.
	MarshalPublicKeyPEM = chain.MarshalPublicKeyPEM
	// ParsePublicKey reads PEM, 64 hex digits or base64 of 32 bytes.
	ParsePublicKey = chain.ParsePublicKey
)

// Signature is the content of signature-ed25519.txt:
//
//	Signature-Algorithm: Ed25519
//	Key-Id: <KeyID of the signing key>
//	Signature: <tag manifest file name> <base64 of the 64-byte signature>
//	...one Signature line per tag manifest, in the order written
//
// Each signature is over the named tag manifest's exact bytes.
type Signature struct {
	KeyID   string
	Entries []SignatureEntry
}

// SignatureEntry signs one tag manifest.
type SignatureEntry struct {
	File string
	Sig  []byte
}

// Format gives the file's canonical bytes.
func (s Signature) Format() []byte {
	var b bytes.Buffer
	b.WriteString("Signature-Algorithm: Ed25519\n")
	b.WriteString("Key-Id: " + s.KeyID + "\n")
	for _, e := range s.Entries {
		b.WriteString("Signature: " + e.File + " " + base64.StdEncoding.EncodeToString(e.Sig) + "\n")
	}
	return b.Bytes()
}

// ErrSignature marks a signature that is missing, malformed, invalid or
// made with a key the verifier does not trust.
var ErrSignature = errors.New("bagit: signature")

// ParseSignature reads signature-ed25519.txt. Only the canonical form
// that Format writes is accepted, so that every byte of the file matters.
func ParseSignature(data []byte) (Signature, error) {
	in, err := ParseInfo(SignatureFile, data)
	if err != nil {
		return Signature{}, err
	}
	bad := func(line int, format string, args ...any) error {
		return &LineError{File: SignatureFile, Line: line, Err: fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)}
	}
	if len(in) < 3 || in[0].Label != "Signature-Algorithm" || in[0].Value != "Ed25519" {
		return Signature{}, bad(1, "want \"Signature-Algorithm: Ed25519\" and at least one signature")
	}
	if in[1].Label != "Key-Id" {
		return Signature{}, bad(2, "want \"Key-Id: <id>\"")
	}
	s := Signature{KeyID: in[1].Value}
	seen := map[string]bool{}
	for i, f := range in[2:] {
		line := i + 3
		file, b64, ok := strings.Cut(f.Value, " ")
		if f.Label != "Signature" || !ok {
			return Signature{}, bad(line, "want \"Signature: <tag manifest> <base64>\"")
		}
		if !strings.HasPrefix(file, "tagmanifest-") || seen[file] {
			return Signature{}, bad(line, "%q is not a tag manifest or is signed twice", file)
		}
		seen[file] = true
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) != ed25519.SignatureSize {
			return Signature{}, bad(line, "signature must be base64 of %d bytes", ed25519.SignatureSize)
		}
		s.Entries = append(s.Entries, SignatureEntry{File: file, Sig: sig})
	}
	if !bytes.Equal(s.Format(), data) {
		return Signature{}, bad(1, "not in canonical form (extra white space, folding or line endings)")
	}
	return s, nil
}

func sumBytes(alg string, data []byte) []byte {
	switch alg {
	case "sha256":
		s := sha256.Sum256(data)
		return s[:]
	case "sha512":
		s := sha512.Sum512(data)
		return s[:]
	}
	return nil
}
