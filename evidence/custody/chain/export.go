package chain

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// Export format: JSON lines (one JSON object per line, UTF-8, '\n'), in
// this order:
//
//	{"type":"header","format":"opendems-custody-export","version":1,...}
//	{"type":"checkpoint",...}   each checkpoint covering an exported item,
//	{"type":"proof",...}        followed by one inclusion proof per item
//	{"type":"event",...}        every event of every exported item, grouped
//	                            by item, in sequence order
//	{"type":"end",...}          counts, so truncation is detected
//
// Checkpoints come before the events so that a verifier knows which
// (item, seq) heads are proven before the events stream past, and needs
// memory for items, not for every event.
//
// Details are written as the stored canonical bytes; the verifier hashes
// them as they appear, so an export must not be re-encoded.
const (
	ExportFormat  = "opendems-custody-export"
	ExportVersion = 1
	// MaxExportLine bounds one line (an event's details) so a hostile file
	// cannot make the verifier allocate without limit.
	MaxExportLine = 16 << 20
)

// Line types of the export.
const (
	LineHeader     = "header"
	LineEvent      = "event"
	LineCheckpoint = "checkpoint"
	LineProof      = "proof"
	LineEnd        = "end"
)

// ExportHeader is the first line of an export.
type ExportHeader struct {
	Type      string `json:"type"`
	Format    string `json:"format"`
	Version   int    `json:"version"`
	CreatedAt string `json:"created_at"`
	// Scope says what was exported: "evidence:<id>", "case:<id>" or "all".
	Scope string `json:"scope"`
	// PublicKey is the server's checkpoint key (base64), for convenience
	// only: a verifier should be given the key from a trusted source.
	PublicKey string `json:"public_key,omitempty"`
}

// ExportEvent is one custody event line.
type ExportEvent struct {
	Type       string          `json:"type"`
	EvidenceID uuid.UUID       `json:"evidence_id"`
	Seq        int64           `json:"seq"`
	Time       string          `json:"time"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Details    json.RawMessage `json:"details"`
	PrevHash   Hash            `json:"prev_hash"`
	Hash       Hash            `json:"hash"`
}

// ExportCheckpoint is one checkpoint line; its proofs follow it.
type ExportCheckpoint struct {
	Type      string `json:"type"`
	ID        int64  `json:"id"`
	Time      string `json:"time"`
	TreeSize  int64  `json:"tree_size"`
	Root      Hash   `json:"root"`
	PublicKey string `json:"public_key"` // base64
	Signature string `json:"signature"`  // base64
}

// ExportProof proves that an item's chain head (Seq, Hash) is leaf
// LeafIndex of checkpoint Checkpoint.
type ExportProof struct {
	Type       string    `json:"type"`
	Checkpoint int64     `json:"checkpoint"`
	EvidenceID uuid.UUID `json:"evidence_id"`
	Seq        int64     `json:"seq"`
	Hash       Hash      `json:"hash"`
	LeafIndex  int64     `json:"leaf_index"`
	Path       []Hash    `json:"path"`
}

// ExportEnd is the last line.
type ExportEnd struct {
	Type        string `json:"type"`
	Items       int    `json:"items"`
	Events      int64  `json:"events"`
	Checkpoints int    `json:"checkpoints"`
	Proofs      int    `json:"proofs"`
}

// ExportWriter writes an export. Methods must be called in file order:
// Header, Checkpoint (with its proofs)..., Event..., Close.
type ExportWriter struct {
	w      *bufio.Writer
	enc    *json.Encoder
	end    ExportEnd
	lastID uuid.UUID
	err    error
}

// NewExportWriter writes to w.
func NewExportWriter(w io.Writer) *ExportWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // details are hashed as written: never re-escape
	return &ExportWriter{w: bw, enc: enc, end: ExportEnd{Type: LineEnd}}
}

func (x *ExportWriter) write(v any) error {
	if x.err != nil {
		return x.err
	}
	if err := x.enc.Encode(v); err != nil {
		x.err = fmt.Errorf("custody export: write: %w", err)
	}
	return x.err
}

// Header writes the header line.
func (x *ExportWriter) Header(scope string, pub ed25519.PublicKey, now time.Time) error {
	h := ExportHeader{Type: LineHeader, Format: ExportFormat, Version: ExportVersion,
		CreatedAt: FormatTime(now), Scope: scope}
	if pub != nil {
		h.PublicKey = base64.StdEncoding.EncodeToString(pub)
	}
	return x.write(h)
}

// Event writes one event line.
func (x *ExportWriter) Event(e *Event) error {
	if e.EvidenceID != x.lastID || x.end.Events == 0 {
		x.end.Items++
		x.lastID = e.EvidenceID
	}
	x.end.Events++
	details := e.Details
	if len(details) == 0 {
		details = []byte("{}")
	}
	return x.write(ExportEvent{Type: LineEvent, EvidenceID: e.EvidenceID, Seq: e.Seq,
		Time: FormatTime(e.Time), Actor: e.Actor, Action: string(e.Action),
		Details: details, PrevHash: e.PrevHash, Hash: e.Hash})
}

// Checkpoint writes a checkpoint line followed by its proofs.
func (x *ExportWriter) Checkpoint(c Checkpoint, proofs []ExportProof) error {
	x.end.Checkpoints++
	if err := x.write(ExportCheckpoint{Type: LineCheckpoint, ID: c.ID, Time: FormatTime(c.Time),
		TreeSize: c.TreeSize, Root: c.Root,
		PublicKey: base64.StdEncoding.EncodeToString(c.PublicKey),
		Signature: base64.StdEncoding.EncodeToString(c.Signature)}); err != nil {
		return err
	}
	for i := range proofs {
		p := proofs[i]
		p.Type = LineProof
		p.Checkpoint = c.ID
		if p.Path == nil {
			p.Path = []Hash{}
		}
		x.end.Proofs++
		if err := x.write(p); err != nil {
			return err
		}
	}
	return nil
}

// Close writes the end line and flushes.
func (x *ExportWriter) Close() error {
	if err := x.write(x.end); err != nil {
		return err
	}
	if err := x.w.Flush(); err != nil {
		x.err = fmt.Errorf("custody export: flush: %w", err)
	}
	return x.err
}
