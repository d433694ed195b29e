package request

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// statusCodeBytes is the entropy of a public status code: 80 bits, shown
// as 16 base-32 characters in four groups ("K7QD-3MZX-PA2R-9TWE"), enough
// that guessing one for a known tracking number is hopeless even without
// the rate limit in front of the status page.
const statusCodeBytes = 10

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewStatusCode returns a fresh public status code and the hash to store.
func NewStatusCode() (code string, hash []byte, err error) {
	var b [statusCodeBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("status code: %w", err)
	}
	s := codeEncoding.EncodeToString(b[:]) // 16 characters
	code = s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	return code, HashStatusCode(code), nil
}

// NormalizeStatusCode accepts what people type (lower case, spaces or no
// dashes) and returns the canonical form, or "" when it cannot be a code.
func NormalizeStatusCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case r >= 'A' && r <= 'Z', r >= '2' && r <= '7':
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != 16 {
		return ""
	}
	c := b.String()
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
}

// HashStatusCode is what is stored for a code (SHA-256 of its canonical
// form; the code itself is never stored).
func HashStatusCode(code string) []byte {
	sum := sha256.Sum256([]byte(NormalizeStatusCode(code)))
	return sum[:]
}

// ValidTrackingNumber reports whether s looks like a tracking number
// ("PAR-2026-000123"), so malformed input never reaches the database.
func ValidTrackingNumber(s string) bool {
	prefix, rest, ok := strings.Cut(s, "-")
	if !ok || len(prefix) < 1 || len(prefix) > 10 || strings.Trim(prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return false
	}
	year, seq, ok := strings.Cut(rest, "-")
	if !ok || len(year) != 4 || len(seq) < 6 || len(seq) > 12 {
		return false
	}
	return strings.Trim(year+seq, "0123456789") == ""
}
