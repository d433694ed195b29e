package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Hash is a SHA-256 value in a chain or Merkle tree. It marshals as
// lower-case hex.
type Hash [sha256.Size]byte

// ZeroHash is the "previous hash" of the first event of every chain.
var ZeroHash Hash

// String returns the lower-case hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short returns the first 12 hex digits followed by an ellipsis, the form
// used in human-readable verification messages.
func (h Hash) Short() string { return hex.EncodeToString(h[:6]) + "…" }

// MarshalText implements encoding.TextMarshaler (hex).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (64 hex digits).
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHash parses 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q: want %d hex digits, got %d", s, 2*len(h), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %q: %v", s, err)
	}
	return h, nil
}

// HashFromBytes converts a 32-byte slice (as stored in bytea columns).
func HashFromBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("hash: want %d bytes, got %d", len(h), len(b))
	}
	copy(h[:], b)
	return h, nil
}

// TimeLayout is the canonical form of event times: UTC, always six
// fractional digits (PostgreSQL keeps microseconds, so a time read back
// from the database formats to the same bytes).
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// CanonicalTime truncates t to microseconds in UTC, the precision that
// survives a round trip through timestamptz.
func CanonicalTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// FormatTime formats t in TimeLayout.
func FormatTime(t time.Time) string { return CanonicalTime(t).Format(TimeLayout) }

// ParseTime parses a time in TimeLayout (exactly: the bytes are hashed).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return t, err
	}
	if t.Format(TimeLayout) != s {
		return t, fmt.Errorf("time %q is not in canonical form %s", s, TimeLayout)
	}
	return t, nil
}

// Event is one link of an evidence item's custody chain.
type Event struct {
	EvidenceID uuid.UUID
	Seq        int64 // 1-based, gap-free within a chain
	Time       time.Time
	Actor      string // "user:jdoe", "dock:station-3", "system:fixity"
	Action     Action
	Details    []byte // canonical JSON object (see Canonicalize)
	PrevHash   Hash   // Hash of event Seq-1, ZeroHash for Seq 1
	Hash       Hash   // SHA-256(PrevHash || CanonicalEvent)
}

// ValidActor reports whether s has the form "kind:name" with a kind of
// lower-case letters and a name of printable UTF-8 (spaces allowed: dock
// names are free text), at most 256 bytes in all. Actors come from
// authenticated principals, so anything else is a bug upstream.
func ValidActor(s string) error {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || kind == "" || name == "" || len(s) > 256 || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %q (want kind:name)", ErrBadActor, s)
	}
	for _, r := range kind {
		if r < 'a' || r > 'z' {
			return fmt.Errorf("%w: %q (kind must be lower-case letters)", ErrBadActor, s)
		}
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return fmt.Errorf("%w: %q (name has control characters)", ErrBadActor, s)
		}
	}
	return nil
}

// AppendCanonicalEvent appends the bytes that are hashed for e:
//
//	{"action":A,"actor":B,"details":D,"evidence_id":"E","seq":N,"time":"T"}
//
// keys in canonical (sorted) order, D the stored canonical details. Actor
// and action are escaped like any canonical JSON string.
func AppendCanonicalEvent(out []byte, e *Event) []byte {
	out = append(out, `{"action":`...)
	out = AppendJSONString(out, string(e.Action))
	out = append(out, `,"actor":`...)
	out = AppendJSONString(out, e.Actor)
	out = append(out, `,"details":`...)
	if len(e.Details) == 0 {
		out = append(out, "{}"...)
	} else {
		out = append(out, e.Details...)
	}
	out = append(out, `,"evidence_id":"`...)
	var idb [36]byte
	encodeUUID(idb[:], e.EvidenceID)
	out = append(out, idb[:]...)
	out = append(out, `","seq":`...)
	out = strconv.AppendInt(out, e.Seq, 10)
	out = append(out, `,"time":"`...)
	out = appendTime(out, e.Time)
	return append(out, `"}`...)
}

// appendTime appends t in TimeLayout; it is on the verification hot path,
// where time.Time.AppendFormat costs as much as the SHA-256.
func appendTime(out []byte, t time.Time) []byte {
	t = CanonicalTime(t)
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(out, TimeLayout)
	}
	hour, min, sec := t.Clock()
	d2 := func(v int) { out = append(out, byte('0'+v/10), byte('0'+v%10)) }
	d2(year / 100)
	d2(year % 100)
	out = append(out, '-')
	d2(int(month))
	out = append(out, '-')
	d2(day)
	out = append(out, 'T')
	d2(hour)
	out = append(out, ':')
	d2(min)
	out = append(out, ':')
	d2(sec)
	out = append(out, '.')
	us := t.Nanosecond() / 1000
	d2(us / 10000)
	d2(us / 100 % 100)
	d2(us % 100)
	return append(out, 'Z')
}

// encodeUUID writes the canonical lower-case form without allocating.
func encodeUUID(dst []byte, u uuid.UUID) {
	hex.Encode(dst, u[:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:])
}

// ComputeHash returns SHA-256(e.PrevHash || CanonicalEvent(e)). buf is
// scratch space that may be reused between calls (nil is fine).
func ComputeHash(e *Event, buf []byte) (Hash, []byte) {
	buf = append(buf[:0], e.PrevHash[:]...)
	buf = AppendCanonicalEvent(buf, e)
	return sha256.Sum256(buf), buf
}

// Seal sets e.Hash from its other fields and returns it.
func (e *Event) Seal() Hash {
	e.Hash, _ = ComputeHash(e, nil)
	return e.Hash
}
