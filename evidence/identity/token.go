package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Token prefixes say what a bearer token is before any lookup, and make
// leaked tokens easy to find with secret scanners.
const (
	UserTokenPrefix = "odt_" // personal API token
	DockTokenPrefix = "odd_" // docking station token
)

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newToken returns a random token with prefix, the short display prefix
// stored in clear, and the SHA-256 stored instead of the token.
func newToken(prefix string) (token, display string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("identity: crypto/rand failed: " + err.Error())
	}
	token = prefix + strings.ToLower(tokenEncoding.EncodeToString(b[:]))
	return token, token[:len(prefix)+6], hashToken(token)
}

// hashToken is what is stored and looked up. Tokens carry 256 random bits,
// so a fast hash is enough (no offline guessing is feasible).
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("identity: crypto/rand failed: " + err.Error())
	}
	return strings.ToLower(tokenEncoding.EncodeToString(b))
}
