package chain

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Event lines are most of an export, and encoding/json spends more time
// decoding them than SHA-256 spends hashing them. parseEventFast reads the
// exact layout ExportWriter produces; any other spelling of a valid line
// (other key order, escapes, white space) returns false and the caller
// falls back to encoding/json, so both paths accept the same files. A
// fuzz test checks that they agree.
const (
	fastPrefix     = `{"type":"event","evidence_id":"`
	fastSuffixLen  = len(`,"prev_hash":"`) + 64 + len(`","hash":"`) + 64 + len(`"}`)
	fastSeqKey     = `","seq":`
	fastTimeKey    = `,"time":"`
	fastActorKey   = `","actor":"`
	fastActionKey  = `","action":"`
	fastDetailsKey = `","details":`
)

// interner returns a string with the bytes of b, reusing earlier ones:
// a few actors and actions repeat over millions of events.
type interner map[string]string

func (in interner) str(b []byte) string {
	if in == nil {
		return string(b)
	}
	if s, ok := in[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(in) < 1<<14 {
		in[s] = s
	}
	return s
}

func parseEventFast(line []byte, e *Event, in interner) bool {
	if !bytes.HasPrefix(line, []byte(fastPrefix)) || len(line) < len(fastPrefix)+36+fastSuffixLen {
		return false
	}
	p := line[len(fastPrefix):]
	id, err := uuid.ParseBytes(p[:36])
	if err != nil || !isCanonicalUUID(p[:36]) {
		return false
	}
	p = p[36:]
	if !bytes.HasPrefix(p, []byte(fastSeqKey)) {
		return false
	}
	p = p[len(fastSeqKey):]
	n := 0
	for n < len(p) && p[n] >= '0' && p[n] <= '9' {
		n++
	}
	if n == 0 || n > 18 || (p[0] == '0' && n > 1) {
		return false
	}
	seq, err := strconv.ParseInt(string(p[:n]), 10, 64)
	if err != nil {
		return false
	}
	p = p[n:]
	if !bytes.HasPrefix(p, []byte(fastTimeKey)) || len(p) < len(fastTimeKey)+len(TimeLayout) {
		return false
	}
	p = p[len(fastTimeKey):]
	t, ok := parseTimeFast(p[:len(TimeLayout)])
	if !ok {
		return false
	}
	p = p[len(TimeLayout):]
	actor, p, ok := fastString(p, fastActorKey, in)
	if !ok {
		return false
	}
	action, p, ok := fastString(p, fastActionKey, in)
	if !ok {
		return false
	}
	if !bytes.HasPrefix(p, []byte(fastDetailsKey)) || len(p) < len(fastDetailsKey)+fastSuffixLen {
		return false
	}
	p = p[len(fastDetailsKey):]
	details, suffix := p[:len(p)-fastSuffixLen], p[len(p)-fastSuffixLen:]
	if len(details) < 2 || details[0] != '{' || !json.Valid(details) {
		return false
	}
	if !bytes.HasPrefix(suffix, []byte(`","prev_hash":"`)[1:]) {
		return false
	}
	suffix = suffix[len(`,"prev_hash":"`):]
	var prev, hash Hash
	if !fastHex(prev[:], suffix[:64]) || string(suffix[64:74]) != `","hash":"` || !fastHex(hash[:], suffix[74:138]) || string(suffix[138:]) != `"}` {
		return false
	}
	*e = Event{EvidenceID: id, Seq: seq, Time: t, Actor: actor, Action: Action(action), Details: details, PrevHash: prev, Hash: hash}
	return true
}

// fastString reads `<key>...` then a string body up to the next '"'; it
// gives up on escapes and control characters.
func fastString(p []byte, key string, in interner) (string, []byte, bool) {
	if !bytes.HasPrefix(p, []byte(key)) {
		return "", nil, false
	}
	p = p[len(key):]
	for i, c := range p {
		switch {
		case c == '"':
			if !utf8.Valid(p[:i]) {
				return "", nil, false
			}
			return in.str(p[:i]), p[i:], true
		case c == '\\' || c < 0x20:
			return "", nil, false
		}
	}
	return "", nil, false
}

// fastHex decodes lower-case hex only (what the writer produces).
func fastHex(dst, src []byte) bool {
	for i := range dst {
		hi, lo := unhex(src[2*i]), unhex(src[2*i+1])
		if hi > 15 || lo > 15 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) byte { return unhexTable[c] }

// unhexTable maps lower-case hex digits to their value, anything else to
// 255.
var unhexTable = func() (t [256]byte) {
	for i := range t {
		t[i] = 255
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
	}
	return t
}()

// parseTimeFast parses exactly TimeLayout ("2006-01-02T15:04:05.000000Z")
// and reports false for anything else, including out-of-range fields
// (checked by formatting the result back).
func parseTimeFast(b []byte) (time.Time, bool) {
	if len(b) != len(TimeLayout) || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' ||
		b[16] != ':' || b[19] != '.' || b[26] != 'Z' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		v := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	var f [7]int
	for i, r := range [7][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}, {20, 26}} {
		v, ok := num(b[r[0]:r[1]])
		if !ok {
			return time.Time{}, false
		}
		f[i] = v
	}
	t := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*1000, time.UTC)
	var buf [len(TimeLayout)]byte
	if string(appendTime(buf[:0], t)) != string(b) {
		return time.Time{}, false // normalized: a field was out of range
	}
	return t, true
}

func isCanonicalUUID(b []byte) bool {
	for i, c := range b {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
