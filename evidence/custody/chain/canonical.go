package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDetailDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDetailDepth = 64

// Canonicalize returns the canonical form of a JSON object: no
// insignificant white space, object keys sorted by their UTF-8 bytes,
// strings escaped minimally (only '"', '\\' and control characters; no HTML
// escaping), integers that fit in int64 written as integers, other numbers
// as the shortest float64 form, and "-0" as "0". Duplicate keys, invalid
// UTF-8, non-finite numbers and anything but a single top-level object are
// errors. An empty input means "{}". The hash chain stores and hashes
// exactly these bytes, so the same details always hash the same.
//
// The rules follow RFC 8785 (JCS) except for key order (UTF-8 rather than
// UTF-16 code units; the same for every key below U+E000) and the
// formatting of fractional numbers outside [1e-6, 1e21), which only needs
// to be stable, not compatible with JavaScript.
func Canonicalize(raw []byte) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("{}"), nil
	}
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrBadDetails)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDetails, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: top level must be an object", ErrBadDetails)
	}
	out := make([]byte, 0, len(raw))
	out, err = canonObject(dec, out, 1)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDetails, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the object", ErrBadDetails)
	}
	return out, nil
}

type member struct {
	key string
	val []byte
}

func canonObject(dec *json.Decoder, out []byte, depth int) ([]byte, error) {
	if depth > maxDetailDepth {
		return nil, errors.New("nested too deeply")
	}
	var members []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key is %T", tok)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		val, err := canonValue(dec, nil, depth)
		if err != nil {
			return nil, err
		}
		members = append(members, member{key, val})
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return nil, err
	}
	sort.Slice(members, func(i, j int) bool { return members[i].key < members[j].key })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = AppendJSONString(out, m.key)
		out = append(out, ':')
		out = append(out, m.val...)
	}
	return append(out, '}'), nil
}

func canonValue(dec *json.Decoder, out []byte, depth int) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return canonObject(dec, out, depth+1)
		case '[':
			if depth+1 > maxDetailDepth {
				return nil, errors.New("nested too deeply")
			}
			out = append(out, '[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out = append(out, ',')
				}
				if out, err = canonValue(dec, out, depth+1); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return append(out, ']'), nil
		}
		return nil, fmt.Errorf("unexpected %v", v)
	case string:
		return AppendJSONString(out, v), nil
	case json.Number:
		return appendCanonNumber(out, string(v))
	case bool:
		return strconv.AppendBool(out, v), nil
	case nil:
		return append(out, "null"...), nil
	}
	return nil, fmt.Errorf("unexpected token %T", tok)
}

func appendCanonNumber(out []byte, s string) ([]byte, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.AppendInt(out, i, 10), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("number %s out of range", s)
	}
	if f == 0 {
		return append(out, '0'), nil
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.AppendFloat(out, f, 'f', -1, 64), nil
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.AppendFloat(out, f, 'f', -1, 64), nil
	}
	return strconv.AppendFloat(out, f, 'g', -1, 64), nil
}

// AppendJSONString appends s as a JSON string with the minimal escaping of
// the canonical form. s must be valid UTF-8 (Canonicalize and the event
// validators check that before calling).
func AppendJSONString(out []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

// CanonicalDetails marshals v (a struct or map) with encoding/json and
// canonicalizes the result; nil means "{}".
func CanonicalDetails(v any) ([]byte, error) {
	if v == nil {
		return []byte("{}"), nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return Canonicalize(raw)
	}
	if raw, ok := v.([]byte); ok {
		return Canonicalize(raw)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDetails, err)
	}
	return Canonicalize(raw)
}
