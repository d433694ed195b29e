package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opendems/opendems/evidence/ingest/receipt"
)

// Paths of the protocol, relative to the server's base URL.
const (
	PathSessions   = "/api/v1/ingest/sessions"
	PathReceiptKey = "/api/v1/ingest/receipt-key"
	// HeaderPrefer with PreferAsync on a commit asks for the acknowledging
	// commit (RFC 7240): 202 with the session once the commit is recorded,
	// the receipt then polled with GET on the session. Without it the
	// commit answers when the receipt exists (200).
	HeaderPrefer = "Prefer"
	PreferAsync  = "respond-async"
	// HeaderChunkSHA256 carries the hex SHA-256 of a chunk's body.
	HeaderChunkSHA256 = "X-Chunk-SHA256"
)

// Limits on what a request may carry.
const (
	// MaxCreateBody bounds the session-create JSON (a long GPS track fits).
	MaxCreateBody = 4 << 20
	// MaxTextField bounds each free-text metadata field, in bytes.
	MaxTextField = 512
	// MaxGPSPoints bounds a GPS track (one point a second for 24 hours).
	MaxGPSPoints = 86400
	// MaxParts is the largest number of chunks in one upload (S3's limit).
	MaxParts = 10000
)

// Source kinds of a recording (evidence_items.source_kind).
const (
	SourceBWC   = "bwc"
	SourceCCTV  = "cctv"
	SourceOther = "other"
)

// Session states (ingest_sessions.state).
const (
	StateOpen       = "open"
	StateCompleting = "completing"
	StateCommitted  = "committed"
	StateFailed     = "failed"
	StateAborted    = "aborted"
)

// GPSPoint is one position of a recording's track.
type GPSPoint struct {
	Time time.Time `json:"t"`
	Lat  float64   `json:"lat"`
	Lon  float64   `json:"lon"`
}

// Metadata describes a recording. Every field is optional; the dock fills
// what its sidecar, the MP4 header and its configuration say.
type Metadata struct {
	OfficerID  string          `json:"officer_id,omitempty"`
	DeviceID   string          `json:"device_id,omitempty"`
	SourceKind string          `json:"source_kind,omitempty"` // bwc, cctv, other; empty: bwc
	CameraName string          `json:"camera_name,omitempty"`
	Location   string          `json:"location,omitempty"`
	RecordedAt *time.Time      `json:"recorded_at,omitempty"`
	GPS        []GPSPoint      `json:"gps,omitempty"`
	Extra      json.RawMessage `json:"extra,omitempty"` // any JSON object, kept verbatim
}

// Validate checks every field and names the first bad one.
func (m Metadata) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"metadata.officer_id", m.OfficerID},
		{"metadata.device_id", m.DeviceID},
		{"metadata.camera_name", m.CameraName},
		{"metadata.location", m.Location},
	} {
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	switch m.SourceKind {
	case "", SourceBWC, SourceCCTV, SourceOther:
	default:
		return fmt.Errorf("metadata.source_kind: %q is not bwc, cctv or other", m.SourceKind)
	}
	if m.RecordedAt != nil {
		if err := checkTime("metadata.recorded_at", *m.RecordedAt); err != nil {
			return err
		}
	}
	if len(m.GPS) > MaxGPSPoints {
		return fmt.Errorf("metadata.gps: %d points, at most %d", len(m.GPS), MaxGPSPoints)
	}
	for i, p := range m.GPS {
		if err := checkTime(fmt.Sprintf("metadata.gps[%d].t", i), p.Time); err != nil {
			return err
		}
		if math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90 {
			return fmt.Errorf("metadata.gps[%d].lat: %v is not in [-90, 90]", i, p.Lat)
		}
		if math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180 {
			return fmt.Errorf("metadata.gps[%d].lon: %v is not in [-180, 180]", i, p.Lon)
		}
	}
	if len(m.Extra) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(m.Extra, &obj); err != nil || obj == nil {
			return fmt.Errorf("metadata.extra: must be a JSON object")
		}
	}
	return nil
}

// Source returns the source kind, defaulting to bwc.
func (m Metadata) Source() string {
	if m.SourceKind == "" {
		return SourceBWC
	}
	return m.SourceKind
}

func checkText(name, v string) error {
	if len(v) > MaxTextField {
		return fmt.Errorf("%s: %d bytes, at most %d", name, len(v), MaxTextField)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s: not valid UTF-8", name)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s: contains control character %U", name, r)
		}
	}
	return nil
}

func checkTime(name string, t time.Time) error {
	if y := t.Year(); y < 1970 || y > 2200 {
		return fmt.Errorf("%s: year %d is not in 1970..2200", name, y)
	}
	return nil
}

// CreateRequest starts (or resumes) an upload session.
type CreateRequest struct {
	SHA256      string   `json:"sha256"` // hex SHA-256 of the whole file
	Size        int64    `json:"size"`
	Filename    string   `json:"filename,omitempty"`
	ContentType string   `json:"content_type,omitempty"`
	Metadata    Metadata `json:"metadata"`
}

// Validate checks the request and names the first bad field.
func (c CreateRequest) Validate() error {
	if _, err := ParseSHA256(c.SHA256); err != nil {
		return fmt.Errorf("sha256: %w", err)
	}
	if c.Size <= 0 {
		return fmt.Errorf("size: %d, must be at least 1 byte", c.Size)
	}
	if err := checkText("filename", c.Filename); err != nil {
		return err
	}
	if strings.ContainsAny(c.Filename, `/\`) {
		return fmt.Errorf("filename: %q must be a base name, without directories", c.Filename)
	}
	if err := checkText("content_type", c.ContentType); err != nil {
		return err
	}
	return c.Metadata.Validate()
}

// ParseCreateRequest decodes and validates a session-create body: one JSON
// object, no unknown fields, nothing after it.
func ParseCreateRequest(body []byte) (CreateRequest, error) {
	var c CreateRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return CreateRequest{}, fmt.Errorf("session request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return CreateRequest{}, fmt.Errorf("session request: data after the JSON object")
	}
	if err := c.Validate(); err != nil {
		return CreateRequest{}, fmt.Errorf("session request: %w", err)
	}
	c.SHA256 = strings.ToLower(c.SHA256)
	return c, nil
}

// ParseSHA256 parses a 64-digit hex SHA-256 (either case).
func ParseSHA256(s string) ([32]byte, error) {
	var d [32]byte
	if len(s) != 64 {
		return d, fmt.Errorf("%q is not 64 hex digits", truncate(s, 80))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("%q is not hex", truncate(s, 80))
	}
	return d, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Session is the server's view of an upload session.
type Session struct {
	SessionID  string           `json:"session_id,omitempty"` // empty in a duplicate answer
	State      string           `json:"state"`
	Offset     int64            `json:"offset"` // durable: every byte before it is stored and hashed
	Size       int64            `json:"size"`
	SHA256     string           `json:"sha256"`
	ChunkSize  int64            `json:"chunk_size"`
	EvidenceID string           `json:"evidence_id,omitempty"`
	Receipt    *receipt.Receipt `json:"receipt,omitempty"`
	Error      *Error           `json:"error,omitempty"` // why a failed session failed
	// Duplicate: the bytes were already held by the item named (a create
	// for them, or a session committed after another one of them).
	Duplicate bool `json:"duplicate,omitempty"`
}

// CreateResponse answers a session create: either a session to upload
// into, or (Duplicate) the receipt of the item that already holds the bytes.
type CreateResponse struct {
	Session
}

// ChunkResponse acknowledges a chunk with the new durable offset.
type ChunkResponse struct {
	Offset int64 `json:"offset"`
}

// CommitResponse carries the receipt of a committed upload.
type CommitResponse struct {
	EvidenceID string          `json:"evidence_id"`
	Receipt    receipt.Receipt `json:"receipt"`
	Duplicate  bool            `json:"duplicate"`
}

// Chunk is a parsed chunk PUT: where it claims to start, how long it is and
// what it hashes to.
type Chunk struct {
	Offset int64
	Length int64
	SHA256 [32]byte
}

// ParseChunk parses the offset query parameter, the request's
// Content-Length (-1: unknown) and the X-Chunk-SHA256 header.
func ParseChunk(offset string, contentLength int64, sha string) (Chunk, error) {
	var c Chunk
	if offset == "" {
		return c, &Error{Code: CodeBadRequest, Message: "offset: query parameter required"}
	}
	off, err := strconv.ParseInt(offset, 10, 64)
	if err != nil || off < 0 {
		return c, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("offset: %q is not a non-negative integer", truncate(offset, 40))}
	}
	if contentLength < 0 {
		return c, &Error{Code: CodeLengthRequired, Message: "Content-Length: required (chunked bodies are refused)"}
	}
	if contentLength == 0 {
		return c, &Error{Code: CodeChunkLength, Message: "Content-Length: an empty chunk carries nothing"}
	}
	d, err := ParseSHA256(sha)
	if err != nil {
		return c, &Error{Code: CodeBadRequest, Message: HeaderChunkSHA256 + ": " + err.Error()}
	}
	return Chunk{Offset: off, Length: contentLength, SHA256: d}, nil
}

// ExpectedChunkLength is the only length a chunk starting at offset may
// have in an upload of size bytes cut into chunkSize chunks.
func ExpectedChunkLength(size, chunkSize, offset int64) int64 {
	return min(chunkSize, size-offset)
}

// CheckChunk checks a parsed chunk against the session: it must start at
// the durable offset and have exactly the expected length.
func CheckChunk(c Chunk, size, chunkSize, durable int64) error {
	if c.Offset != durable {
		off := durable
		return &Error{Code: CodeOffsetMismatch, Offset: &off,
			Message: fmt.Sprintf("chunk at offset %d, but the durable offset is %d", c.Offset, durable)}
	}
	if c.Offset >= size {
		return &Error{Code: CodeBeyondSize, Message: fmt.Sprintf("chunk at offset %d is beyond the declared size %d", c.Offset, size)}
	}
	want := ExpectedChunkLength(size, chunkSize, c.Offset)
	if c.Length > want {
		if c.Offset+c.Length > size {
			return &Error{Code: CodeBeyondSize, Message: fmt.Sprintf("chunk of %d bytes at offset %d ends past the declared size %d", c.Length, c.Offset, size)}
		}
		return &Error{Code: CodeChunkTooLarge, Message: fmt.Sprintf("chunk of %d bytes, the chunk size is %d", c.Length, chunkSize)}
	}
	if c.Length < want {
		return &Error{Code: CodeChunkLength, Message: fmt.Sprintf("chunk of %d bytes at offset %d, must be %d", c.Length, c.Offset, want)}
	}
	return nil
}

// PrefersAsync reports whether a Prefer header value (RFC 7240: comma
// separated preferences, each possibly with parameters) asks for
// respond-async.
func PrefersAsync(prefer string) bool {
	for _, p := range strings.Split(prefer, ",") {
		name, _, _ := strings.Cut(p, ";")
		name, _, _ = strings.Cut(name, "=")
		if strings.EqualFold(strings.TrimSpace(name), PreferAsync) {
			return true
		}
	}
	return false
}
