package bagit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Fixed names of the bag's tag files.
const (
	BagItFile     = "bagit.txt"
	BagInfoFile   = "bag-info.txt"
	SigningKey    = "signing-key.pub"
	SignatureFile = "signature-ed25519.txt"
	PayloadDir    = "data/"
)

// The declaration this package writes. Verify also accepts 0.97 bags.
const bagItDeclaration = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

// Algorithms are the checksum algorithms this package writes and, in this
// order, the ones it verifies (RFC 8493 §2.4 names sha256 and sha512
// among the registered ones; md5 and sha1 are deliberately not accepted).
var Algorithms = []string{"sha256", "sha512"}

func hashSize(alg string) int {
	switch alg {
	case "sha256":
		return 32
	case "sha512":
		return 64
	}
	return 0
}

// ManifestName and TagManifestName give the file names for an algorithm.
func ManifestName(alg string) string    { return "manifest-" + alg + ".txt" }
func TagManifestName(alg string) string { return "tagmanifest-" + alg + ".txt" }

// ErrSyntax marks a malformed tag file or manifest line.
var ErrSyntax = errors.New("bagit: syntax error")

// EncodePath percent-encodes CR, LF and '%' in a bag-relative path, and
// only those, as RFC 8493 §2.1.3 requires.
func EncodePath(p string) string {
	if !strings.ContainsAny(p, "\r\n%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\r':
			b.WriteString("%0D")
		case '\n':
			b.WriteString("%0A")
		case '%':
			b.WriteString("%25")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// DecodePath reverses EncodePath. A '%' not followed by two hex digits is
// an error: the RFC requires '%' itself to be encoded.
func DecodePath(p string) (string, error) {
	if !strings.Contains(p, "%") {
		return p, nil
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) {
			return "", fmt.Errorf("%w: truncated percent-encoding in %q", ErrSyntax, p)
		}
		v, err := strconv.ParseUint(p[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("%w: bad percent-encoding in %q", ErrSyntax, p)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// CheckPath reports whether p is an acceptable bag-relative file path:
// valid UTF-8, slash-separated, relative, clean (no "." or ".." element,
// no empty element) and no NUL. This keeps a hostile manifest from naming
// files outside the bag.
func CheckPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty path", ErrSyntax)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: path %q is not UTF-8", ErrSyntax, p)
	case p[0] == ' ' || p[0] == '\t':
		// The manifest separator is "one or more" blanks: a leading blank
		// of the path could not be told from it.
		return fmt.Errorf("%w: path %q starts with white space", ErrSyntax, p)
	case strings.ContainsRune(p, 0) || strings.Contains(p, "\\"):
		return fmt.Errorf("%w: path %q contains NUL or backslash", ErrSyntax, p)
	case strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%w: path %q is not a clean relative path", ErrSyntax, p)
	}
	return nil
}

// Field is one bag-info.txt element. Labels may repeat; order is kept.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Info is the ordered content of bag-info.txt.
type Info []Field

// Get returns the first value of label (labels compare case-insensitively,
// RFC 8493 §2.2.2) and whether it was present.
func (in Info) Get(label string) (string, bool) {
	for _, f := range in {
		if strings.EqualFold(f.Label, label) {
			return f.Value, true
		}
	}
	return "", false
}

// maxLine is the line length that folding aims at (RFC 8493 §2.2.2
// recommends at most 79 characters).
const maxLine = 79

// checkField refuses what cannot be written and read back unchanged.
func checkField(f Field) error {
	switch {
	case f.Label == "" || strings.ContainsAny(f.Label, ":\r\n") || strings.TrimSpace(f.Label) != f.Label:
		return fmt.Errorf("%w: bag-info label %q", ErrSyntax, f.Label)
	case strings.ContainsAny(f.Value, "\r\n") || !utf8.ValidString(f.Value) || !utf8.ValidString(f.Label):
		return fmt.Errorf("%w: bag-info %s: value must be one line of UTF-8", ErrSyntax, f.Label)
	case strings.TrimSpace(f.Value) != f.Value:
		return fmt.Errorf("%w: bag-info %s: value has leading or trailing white space", ErrSyntax, f.Label)
	}
	return nil
}

// FormatInfo writes bag-info.txt. A line longer than 79 characters is
// folded before a space (the space starts the continuation line), so that
// unfolding, which removes only the line break, gives the value back
// exactly; a value without spaces stays on one long line.
func FormatInfo(in Info) ([]byte, error) {
	var b bytes.Buffer
	for _, f := range in {
		if err := checkField(f); err != nil {
			return nil, err
		}
		line := f.Label + ": " + f.Value
		minCut := len(f.Label) + 2 // never fold the ": " separator away
		for len(line) > maxLine {
			cut := strings.LastIndexByte(line[:maxLine+1], ' ')
			if cut < minCut {
				next := strings.IndexByte(line[maxLine:], ' ')
				if next < 0 {
					break // no space left: one long line
				}
				cut = maxLine + next
			}
			b.WriteString(line[:cut])
			b.WriteByte('\n')
			line = line[cut:]
			minCut = 1 // a continuation line keeps at least its leading space
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// LineError names the file and line where a tag file or manifest is
// malformed.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s line %d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// splitLines splits on LF, CR or CRLF (RFC 8493 §2.2.2 allows all three).
// The last line may lack its terminator.
func splitLines(data []byte) []string {
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			lines = append(lines, string(data))
			break
		}
		lines = append(lines, string(data[:i]))
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return lines
}

// ParseInfo reads a tag file of metadata elements (bagit.txt,
// bag-info.txt): "Label: value" lines, where a line that starts with a
// space or tab continues the previous value (the line break is removed,
// the white space kept). file names the file in errors.
func ParseInfo(file string, data []byte) (Info, error) {
	if !utf8.Valid(data) {
		return nil, &LineError{File: file, Line: 1 + bytes.Count(data[:firstInvalidUTF8(data)], []byte("\n")), Err: fmt.Errorf("%w: not UTF-8", ErrSyntax)}
	}
	var in Info
	for n, line := range splitLines(data) {
		if strings.TrimSpace(line) == "" {
			continue // blank lines carry nothing (bagit-python skips them too)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(in) == 0 {
				return nil, &LineError{File: file, Line: n + 1, Err: fmt.Errorf("%w: continuation line without an element", ErrSyntax)}
			}
			in[len(in)-1].Value += line
			continue
		}
		label, value, ok := strings.Cut(line, ":")
		if !ok || label == "" || strings.TrimSpace(label) != label {
			return nil, &LineError{File: file, Line: n + 1, Err: fmt.Errorf("%w: want \"Label: value\", got %q", ErrSyntax, clip(line))}
		}
		if value == "" || (value[0] != ' ' && value[0] != '\t') {
			return nil, &LineError{File: file, Line: n + 1, Err: fmt.Errorf("%w: label %q must be followed by \": \"", ErrSyntax, label)}
		}
		in = append(in, Field{Label: label, Value: value[1:]})
	}
	return in, nil
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ParseBagIt checks a bagit.txt: exactly the two required elements, a
// version this package reads (1.0 or 0.97) and UTF-8 tag files.
func ParseBagIt(data []byte) (version string, err error) {
	in, err := ParseInfo(BagItFile, data)
	if err != nil {
		return "", err
	}
	if len(in) != 2 || in[0].Label != "BagIt-Version" || in[1].Label != "Tag-File-Character-Encoding" {
		return "", &LineError{File: BagItFile, Line: 1, Err: fmt.Errorf("%w: want exactly BagIt-Version and Tag-File-Character-Encoding", ErrSyntax)}
	}
	switch in[0].Value {
	case "1.0", "0.97":
	default:
		return "", &LineError{File: BagItFile, Line: 1, Err: fmt.Errorf("%w: unsupported BagIt-Version %q", ErrSyntax, in[0].Value)}
	}
	if !strings.EqualFold(in[1].Value, "UTF-8") {
		return "", &LineError{File: BagItFile, Line: 2, Err: fmt.Errorf("%w: unsupported Tag-File-Character-Encoding %q", ErrSyntax, in[1].Value)}
	}
	return in[0].Value, nil
}

// ManifestEntry is one manifest line.
type ManifestEntry struct {
	Path string // decoded, bag-relative
	Sum  []byte
	Line int
}

// ParseManifest reads a manifest or tag manifest of algorithm alg:
// "<hex checksum> <path>" per line (one or more spaces or tabs between),
// paths percent-decoded and checked with CheckPath. A path listed twice
// is an error. payload selects which paths are allowed: only data/... for
// a payload manifest, none under data/ for a tag manifest.
func ParseManifest(file, alg string, data []byte, payload bool) ([]ManifestEntry, error) {
	size := hashSize(alg)
	if size == 0 {
		return nil, &LineError{File: file, Line: 1, Err: fmt.Errorf("%w: unsupported algorithm %q", ErrSyntax, alg)}
	}
	seen := map[string]int{}
	var out []ManifestEntry
	for n, line := range splitLines(data) {
		lineNo := n + 1
		bad := func(format string, args ...any) error {
			return &LineError{File: file, Line: lineNo, Err: fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)}
		}
		sep := strings.IndexAny(line, " \t")
		if sep < 0 {
			return nil, bad("want \"<checksum> <path>\", got %q", clip(line))
		}
		sum, raw := line[:sep], strings.TrimLeft(line[sep:], " \t")
		if len(sum) != 2*size {
			return nil, bad("%s checksum must be %d hex digits", alg, 2*size)
		}
		digest, err := hex.DecodeString(sum)
		if err != nil {
			return nil, bad("checksum is not hex")
		}
		p, err := DecodePath(raw)
		if err != nil {
			return nil, &LineError{File: file, Line: lineNo, Err: err}
		}
		if err := CheckPath(p); err != nil {
			return nil, &LineError{File: file, Line: lineNo, Err: err}
		}
		if under := strings.HasPrefix(p, PayloadDir); payload != under {
			if payload {
				return nil, bad("payload manifest lists %q, outside data/", p)
			}
			return nil, bad("tag manifest lists payload file %q", p)
		}
		if prev, dup := seen[p]; dup {
			return nil, bad("%q is already listed on line %d", p, prev)
		}
		seen[p] = lineNo
		out = append(out, ManifestEntry{Path: p, Sum: digest, Line: lineNo})
	}
	return out, nil
}

// formatManifestLine is the one way this package writes an entry.
func formatManifestLine(b *bytes.Buffer, sum []byte, p string) {
	b.WriteString(hex.EncodeToString(sum))
	b.WriteByte(' ')
	b.WriteString(EncodePath(p))
	b.WriteByte('\n')
}
