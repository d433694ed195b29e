package chain

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/google/uuid"
)

// MaxReportedProblems caps Report.Problems; verification goes on counting.
const MaxReportedProblems = 1000

// Report is the result of verifying an export.
type Report struct {
	Scope       string `json:"scope"`
	Items       int    `json:"items"`
	Events      int64  `json:"events"`
	Checkpoints int    `json:"checkpoints"`
	Proofs      int    `json:"proofs"`
	KeyID       string `json:"key_id,omitempty"` // key that signed the checkpoints
	KeyTrusted  bool   `json:"key_trusted"`      // it equals the key the caller trusts
	Uncovered   int    `json:"uncovered_items"`  // items no checkpoint in the export covers at all (yet)
	// UnsignedEvents counts events newer than the last event a valid
	// checkpoint commits to, over all items: the unsigned tail, which a
	// database superuser could still rewrite unnoticed.
	UnsignedEvents int64     `json:"unsigned_events"`
	UnsignedItems  int       `json:"unsigned_items"` // items with such events
	Problems       []Problem `json:"problems,omitempty"`
	// ProblemCount counts all problems, also those past MaxReportedProblems.
	ProblemCount int `json:"problem_count"`
}

// OK reports whether everything verified.
func (r *Report) OK() bool { return r.ProblemCount == 0 }

func (r *Report) add(p Problem) {
	r.ProblemCount++
	if len(r.Problems) < MaxReportedProblems {
		r.Problems = append(r.Problems, p)
	}
}

// exportLine is the union of every line type, decoded in one pass.
type exportLine struct {
	Type string `json:"type"`
	// header
	Format    string `json:"format"`
	Version   int    `json:"version"`
	CreatedAt string `json:"created_at"`
	Scope     string `json:"scope"`
	PublicKey string `json:"public_key"`
	// event / proof
	EvidenceID uuid.UUID       `json:"evidence_id"`
	Seq        int64           `json:"seq"`
	Time       string          `json:"time"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Details    json.RawMessage `json:"details"`
	PrevHash   Hash            `json:"prev_hash"`
	Hash       Hash            `json:"hash"`
	// checkpoint / proof
	ID         int64  `json:"id"`
	TreeSize   int64  `json:"tree_size"`
	Root       Hash   `json:"root"`
	Signature  string `json:"signature"`
	Checkpoint int64  `json:"checkpoint"`
	LeafIndex  int64  `json:"leaf_index"`
	Path       []Hash `json:"path"`
	// end
	Items       int   `json:"items"`
	Events      int64 `json:"events"`
	Checkpoints int   `json:"checkpoints"`
	Proofs      int   `json:"proofs"`
}

// VerifyExport reads a custody export and recomputes every event hash,
// every chain link, every checkpoint signature and every inclusion proof.
// trustedKey is the server's public key from a trusted source; nil accepts
// the key the export names (Report.KeyTrusted is then false).
//
// It returns an error wrapping ErrBadExport when the input is not a
// well-formed export (naming the line), and a *VerificationError
// (errors.Is ErrNotVerified) naming the first problem when something does
// not verify; Report lists the problems either way.
func VerifyExport(r io.Reader, trustedKey ed25519.PublicKey) (Report, error) {
	v := exportVerifier{checker: NewChainChecker(false), trusted: trustedKey,
		covered: map[uuid.UUID]int64{}, wants: map[uuid.UUID][]want{}, strs: interner{}}
	err := v.run(r)
	v.rep.Items = len(v.checker.items)
	for id, st := range v.checker.items {
		signed, ok := v.covered[id]
		if !ok {
			v.rep.Uncovered++
		}
		if signed < st.LastSeq {
			v.rep.UnsignedItems++
			v.rep.UnsignedEvents += st.LastSeq - signed
		}
	}
	if err != nil {
		return v.rep, err
	}
	if !v.rep.OK() {
		return v.rep, &VerificationError{First: v.rep.Problems[0], Count: v.rep.ProblemCount}
	}
	return v.rep, nil
}

type exportVerifier struct {
	rep     Report
	checker *ChainChecker
	trusted ed25519.PublicKey
	signer  ed25519.PublicKey   // key of the header or first checkpoint
	covered map[uuid.UUID]int64 // item -> highest seq a valid checkpoint commits to
	cp      *Checkpoint         // current checkpoint (proofs refer to it)
	cpOK    bool
	ev      Event
	line    exportLine
	// wants are the chain heads the checkpoints commit to, checked as
	// the events stream past: memory grows with items, not events.
	strs     interner
	wants    map[uuid.UUID][]want
	curWants []want
	curID    uuid.UUID
}

// want is one proven (seq, hash) of an item, from a checkpoint.
type want struct {
	checkpoint int64
	line       int
	seq        int64
	hash       Hash
	matched    bool
}

func badLine(n int, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrBadExport, n, fmt.Sprintf(format, args...))
}

func (v *exportVerifier) run(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	n := 0
	sawEnd := false
	section := LineHeader // the section the file is in; only moves forward
	for {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		n++
		if err != nil {
			return badLine(n, "%v", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return badLine(n, "empty line")
		}
		if sawEnd {
			return badLine(n, "data after the end line")
		}
		if n > 1 && parseEventFast(line, &v.ev, v.strs) {
			section = LineEvent
			v.checkEvent(n)
			continue
		}
		v.line = exportLine{}
		if err := json.Unmarshal(line, &v.line); err != nil {
			return badLine(n, "%v", err)
		}
		l := &v.line
		if n == 1 {
			if l.Type != LineHeader {
				return badLine(n, "first line must be the header, got type %q", l.Type)
			}
			if err := v.header(n); err != nil {
				return err
			}
			continue
		}
		switch l.Type {
		case LineEvent:
			section = LineEvent
			if err := v.event(n); err != nil {
				return err
			}
		case LineCheckpoint:
			if section == LineEvent {
				return badLine(n, "checkpoint after the events (checkpoints come first)")
			}
			section = LineCheckpoint
			if err := v.checkpoint(n); err != nil {
				return err
			}
		case LineProof:
			if v.cp == nil || section == LineEvent {
				return badLine(n, "proof outside a checkpoint")
			}
			if err := v.proof(n); err != nil {
				return err
			}
		case LineEnd:
			sawEnd = true
			v.unmatched()
			v.end(n)
		case LineHeader:
			return badLine(n, "second header")
		default:
			return badLine(n, "unknown line type %q", l.Type)
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: empty input", ErrBadExport)
	}
	if !sawEnd {
		v.unmatched()
		v.rep.add(Problem{Kind: ProblemTruncated, Line: n,
			Message: "export truncated: no end line (events or checkpoints may be missing)"})
	}
	return nil
}

// unmatched reports proven heads whose event never came by.
func (v *exportVerifier) unmatched() {
	ids := make([]uuid.UUID, 0, len(v.wants))
	for id := range v.wants {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	for _, id := range ids {
		st := v.checker.items[id]
		for _, w := range v.wants[id] {
			if w.matched {
				continue
			}
			msg := fmt.Sprintf("checkpoint %d commits to seq %d, but the export has no events for this item", w.checkpoint, w.seq)
			if st != nil {
				msg = fmt.Sprintf("checkpoint %d commits to seq %d, but the chain ends at seq %d (events removed)", w.checkpoint, w.seq, st.LastSeq)
			}
			v.rep.add(Problem{Kind: ProblemEventsMissing, Line: w.line, EvidenceID: id, Checkpoint: w.checkpoint, Message: msg})
		}
	}
}

// readLine returns one line without its '\n', refusing lines longer than
// MaxExportLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(buf) > MaxExportLine {
				return nil, fmt.Errorf("line longer than %d bytes", MaxExportLine)
			}
			line, err = br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err == io.EOF && len(line) > 0 {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line, []byte("\n")), nil
}

func (v *exportVerifier) header(n int) error {
	l := &v.line
	if l.Format != ExportFormat {
		return badLine(n, "format %q is not %q", l.Format, ExportFormat)
	}
	if l.Version != ExportVersion {
		return badLine(n, "unsupported export version %d (this verifier reads %d)", l.Version, ExportVersion)
	}
	v.rep.Scope = l.Scope
	if l.PublicKey != "" {
		k, err := decodeKey(l.PublicKey)
		if err != nil {
			return badLine(n, "public_key: %v", err)
		}
		v.signer = k
	}
	return nil
}

func decodeKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: want base64 of %d bytes", ErrBadPublicKey, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

func (v *exportVerifier) event(n int) error {
	l := &v.line
	if l.EvidenceID == uuid.Nil {
		return badLine(n, "event without evidence_id")
	}
	t, err := ParseTime(l.Time)
	if err != nil {
		return badLine(n, "time: %v", err)
	}
	details := []byte(l.Details)
	if len(details) == 0 || details[0] != '{' {
		return badLine(n, "details must be a JSON object")
	}
	v.ev = Event{EvidenceID: l.EvidenceID, Seq: l.Seq, Time: t, Actor: l.Actor,
		Action: Action(l.Action), Details: details, PrevHash: l.PrevHash, Hash: l.Hash}
	v.checkEvent(n)
	return nil
}

func (v *exportVerifier) checkEvent(n int) {
	v.rep.Events++
	e := &v.ev
	if p := v.checker.Check(e); p != nil {
		p.Line = n
		v.rep.add(*p)
	}
	if e.EvidenceID != v.curID {
		v.curID, v.curWants = e.EvidenceID, v.wants[e.EvidenceID]
	}
	for i := range v.curWants {
		w := &v.curWants[i]
		if w.seq != e.Seq || w.matched {
			continue
		}
		w.matched = true
		if w.hash != e.Hash {
			v.rep.add(Problem{Kind: ProblemCheckpointMismatch, Line: n, EvidenceID: e.EvidenceID, Seq: e.Seq,
				Checkpoint: w.checkpoint, Message: fmt.Sprintf("does not match checkpoint %d: checkpoint has hash %s, chain has %s",
					w.checkpoint, w.hash.Short(), e.Hash.Short())})
			continue
		}
		v.covered[e.EvidenceID] = max(v.covered[e.EvidenceID], e.Seq)
	}
}

func (v *exportVerifier) checkpoint(n int) error {
	l := &v.line
	if l.ID <= 0 {
		return badLine(n, "checkpoint without a positive id")
	}
	t, err := ParseTime(l.Time)
	if err != nil {
		return badLine(n, "checkpoint time: %v", err)
	}
	pub, err := decodeKey(l.PublicKey)
	if err != nil {
		return badLine(n, "checkpoint public_key: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(l.Signature)
	if err != nil {
		return badLine(n, "checkpoint signature: %v", err)
	}
	if l.TreeSize < 0 {
		return badLine(n, "negative tree_size")
	}
	v.rep.Checkpoints++
	v.cp = &Checkpoint{ID: l.ID, Time: t, TreeSize: l.TreeSize, Root: l.Root, PublicKey: pub, Signature: sig}
	v.cpOK = true
	if v.rep.KeyID == "" {
		v.rep.KeyID = KeyID(pub)
		v.rep.KeyTrusted = v.trusted != nil && v.trusted.Equal(pub)
	}
	want := v.trusted
	if want == nil {
		// Without a trusted key, at least every checkpoint must be signed
		// by one key, the one the header names.
		if v.signer == nil {
			v.signer = pub
		}
		want = v.signer
	}
	if err := v.cp.VerifySignature(want); err != nil {
		v.cpOK = false
		msg := "signature invalid"
		if errors.Is(err, ErrUntrustedKey) {
			msg = fmt.Sprintf("signed by key %s, not the trusted key %s", KeyID(pub), KeyID(want))
		}
		v.rep.add(Problem{Kind: ProblemCheckpointSig, Line: n, Checkpoint: l.ID, Message: msg})
	}
	return nil
}

func (v *exportVerifier) proof(n int) error {
	l := &v.line
	cp := v.cp
	if l.Checkpoint != cp.ID {
		return badLine(n, "proof for checkpoint %d after checkpoint %d", l.Checkpoint, cp.ID)
	}
	v.rep.Proofs++
	add := func(kind ProblemKind, seq int64, format string, args ...any) {
		v.rep.add(Problem{Kind: kind, Line: n, EvidenceID: l.EvidenceID, Seq: seq, Checkpoint: cp.ID,
			Message: fmt.Sprintf(format, args...)})
	}
	leaf := Leaf{EvidenceID: l.EvidenceID, Seq: l.Seq, Hash: l.Hash}
	if err := VerifyInclusion(LeafHash(leaf.Bytes()), l.LeafIndex, cp.TreeSize, l.Path, cp.Root); err != nil {
		add(ProblemProofInvalid, 0, "checkpoint %d: inclusion proof of head seq %d invalid: %v", cp.ID, l.Seq, err)
		return nil
	}
	if !v.cpOK {
		return nil // already reported: an unsigned root proves nothing
	}
	if l.Seq < 1 {
		add(ProblemProofInvalid, 0, "checkpoint %d commits to invalid seq %d", cp.ID, l.Seq)
		return nil
	}
	v.wants[l.EvidenceID] = append(v.wants[l.EvidenceID], want{checkpoint: cp.ID, line: n, seq: l.Seq, hash: l.Hash})
	return nil
}

func (v *exportVerifier) end(n int) {
	l := &v.line
	r := &v.rep
	if l.Events != r.Events || l.Items != len(v.checker.items) || l.Checkpoints != r.Checkpoints || l.Proofs != r.Proofs {
		r.add(Problem{Kind: ProblemCountMismatch, Line: n, Message: fmt.Sprintf(
			"end line counts %d items, %d events, %d checkpoints, %d proofs; export has %d, %d, %d, %d",
			l.Items, l.Events, l.Checkpoints, l.Proofs, len(v.checker.items), r.Events, r.Checkpoints, r.Proofs)})
	}
}
