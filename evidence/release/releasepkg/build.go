package releasepkg

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/release/bagit"
)

// Result describes a built package.
type Result struct {
	Index   Index
	Payload []bagit.PayloadFile
	KeyID   string
}

// BagName is the bag's base directory (and the ZIP's name without .zip).
func BagName(requestNumber, releaseID string) string {
	return "release-" + sanitize(requestNumber) + "-" + sanitize(releaseID)
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Build writes the release package described by spec to w as one ZIP
// stream. Memory stays bounded whatever the clip sizes. It refuses (and
// the partial output must be discarded) when a clip's bytes are not the
// output its render report and approval name, or when a clip's source is
// not in the custody excerpt: a package Build writes passes Verify.
func Build(ctx context.Context, w io.Writer, spec Spec) (*Result, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	spec.Now = spec.Now.UTC().Truncate(time.Second)
	pub := spec.SigningKey.Public().(ed25519.PublicKey)
	bw, err := bagit.NewZipWriter(w, BagName(spec.RequestNumber, spec.ReleaseID), bagit.Options{
		Info: bagit.Info{
			{Label: "Source-Organization", Value: oneLine(spec.Agency.Name)},
			{Label: "Contact-Email", Value: oneLine(spec.Agency.ContactEmail)},
			{Label: "External-Identifier", Value: oneLine(spec.RequestNumber)},
			{Label: "Internal-Sender-Identifier", Value: "release " + oneLine(spec.ReleaseID)},
			{Label: "Internal-Sender-Description", Value: oneLine(orDefault(spec.Description,
				"Release of redacted recordings in response to request "+spec.RequestNumber))},
			{Label: "Bag-Software-Agent", Value: "OpenDEMS release package v1"},
		},
		SigningKey: spec.SigningKey,
		Now:        spec.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("release package: %w", err)
	}
	idx := Index{Format: IndexFormat, Version: FormatVersion, ReleaseID: spec.ReleaseID,
		RequestNumber: spec.RequestNumber, Agency: spec.Agency, Requester: spec.Requester,
		CreatedAt: spec.Now, KeyID: bagit.KeyID(pub), Letter: LetterFile, Custody: CustodyFile,
		ReleaseEvents: ReleaseEventsFile, Clips: []IndexClip{}}
	add := func(name string, data []byte) error {
		_, err := bw.AddPayload(ctx, strings.TrimPrefix(name, bagit.PayloadDir), bytes.NewReader(data))
		return err
	}
	for _, c := range spec.Clips {
		ic, err := addClip(ctx, bw, c)
		if err != nil {
			return nil, err
		}
		idx.Clips = append(idx.Clips, ic)
	}
	withheld := spec.Withheld
	if withheld == nil {
		withheld = []WithheldItem{}
	}
	idx.Withheld = IndexWithheld{JSON: WithheldJSONFile, CSV: WithheldCSVFile, Count: len(withheld)}
	if err := add(WithheldJSONFile, marshalJSON(withheld)); err != nil {
		return nil, err
	}
	if err := add(WithheldCSVFile, withheldCSV(withheld)); err != nil {
		return nil, err
	}
	letter, err := renderLetter(&spec, &idx)
	if err != nil {
		return nil, err
	}
	if err := add(LetterFile, letter); err != nil {
		return nil, err
	}
	ingested := newIngestScanner()
	if _, err := bw.AddPayload(ctx, strings.TrimPrefix(CustodyFile, bagit.PayloadDir), io.TeeReader(spec.CustodyExcerpt, ingested)); err != nil {
		return nil, fmt.Errorf("release package: custody excerpt: %w", err)
	}
	if err := ingested.finish(); err != nil {
		return nil, fmt.Errorf("release package: custody excerpt: %w", err)
	}
	for _, c := range idx.Clips {
		if !ingested.has(c.SourceEvidenceID, c.SourceSHA256) {
			return nil, fmt.Errorf("%w: clip %s: no ingested event of item %s with SHA-256 %s", ErrNoCustody, c.File, c.SourceEvidenceID, c.SourceSHA256)
		}
	}
	if _, err := bw.AddPayload(ctx, strings.TrimPrefix(ReleaseEventsFile, bagit.PayloadDir), spec.ReleaseEvents); err != nil {
		return nil, fmt.Errorf("release package: release events: %w", err)
	}
	if err := add(IndexFile, marshalJSON(idx)); err != nil {
		return nil, err
	}
	if err := bw.Close(); err != nil {
		return nil, fmt.Errorf("release package: %w", err)
	}
	return &Result{Index: idx, Payload: bw.Payload(), KeyID: idx.KeyID}, nil
}

// addClip streams one clip and writes its reports.
func addClip(ctx context.Context, bw *bagit.Writer, c Clip) (IndexClip, error) {
	var rr renderReport
	if err := json.Unmarshal(c.RenderReport, &rr); err != nil {
		return IndexClip{}, fmt.Errorf("%w: clip %s: render report: %v", ErrInvalidSpec, c.Name, err)
	}
	if !sha256Hex.MatchString(rr.Output.SHA256) || !sha256Hex.MatchString(rr.Source.SHA256) {
		return IndexClip{}, fmt.Errorf("%w: clip %s: render report lacks source or output SHA-256", ErrInvalidSpec, c.Name)
	}
	source := c.SourceEvidenceID
	if source == "" {
		source = rr.ClipSource
	}
	if source == "" || (rr.ClipSource != "" && rr.ClipSource != source) {
		return IndexClip{}, fmt.Errorf("%w: clip %s: source item %q, render report says %q", ErrInvalidSpec, c.Name, c.SourceEvidenceID, rr.ClipSource)
	}
	rc, err := c.Open(ctx)
	if err != nil {
		return IndexClip{}, fmt.Errorf("release package: open clip %s: %w", c.Name, err)
	}
	pf, err := bw.AddPayload(ctx, "clips/"+c.Name, rc)
	rc.Close()
	if err != nil {
		return IndexClip{}, fmt.Errorf("release package: clip %s: %w", c.Name, err)
	}
	if pf.SHA256 != rr.Output.SHA256 || (rr.Output.Size != 0 && pf.Size != rr.Output.Size) {
		return IndexClip{}, fmt.Errorf("%w: clip %s has SHA-256 %s (%d bytes); its render report names %s (%d bytes)",
			ErrClipMismatch, c.Name, pf.SHA256, pf.Size, rr.Output.SHA256, rr.Output.Size)
	}
	if c.Approval != nil && (c.Approval.OutputSHA256 != pf.SHA256 || (c.SpecVersion != 0 && c.Approval.SpecVersion != c.SpecVersion)) {
		return IndexClip{}, fmt.Errorf("%w: clip %s: approval binds output %s spec v%d, package has %s spec v%d",
			ErrClipMismatch, c.Name, c.Approval.OutputSHA256, c.Approval.SpecVersion, pf.SHA256, c.SpecVersion)
	}
	rep := ClipReport{Format: ReportFormat, Version: FormatVersion, Clip: pf.Path,
		Output: Digest{Size: pf.Size, SHA256: pf.SHA256}, Source: Digest{Size: rr.Source.Size, SHA256: rr.Source.SHA256},
		SourceEvidenceID: source, SpecVersion: c.SpecVersion, In: rr.In, Out: rr.Out, Approval: c.Approval,
		Items: []RedactionItem{}}
	for _, it := range rr.Items {
		codes, ok := c.Exemptions[it.ID]
		if !ok {
			codes = c.DefaultExemptions
		}
		it.Exemptions = append([]string{}, codes...)
		rep.Items = append(rep.Items, it)
	}
	base := "reports/" + c.Name
	ic := IndexClip{File: pf.Path, Size: pf.Size, SHA256: pf.SHA256,
		ReportJSON: bagit.PayloadDir + base + ".redaction.json", ReportCSV: bagit.PayloadDir + base + ".redaction.csv",
		RenderReport: bagit.PayloadDir + base + ".render.json", SourceEvidenceID: source, SourceSHA256: rr.Source.SHA256}
	for _, f := range []struct {
		name string
		data []byte
	}{{base + ".redaction.json", marshalJSON(rep)}, {base + ".redaction.csv", reportCSV(&rep)}, {base + ".render.json", c.RenderReport}} {
		if _, err := bw.AddPayload(ctx, f.name, bytes.NewReader(f.data)); err != nil {
			return IndexClip{}, fmt.Errorf("release package: %s: %w", f.name, err)
		}
	}
	return ic, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// ingestScanner reads custody export lines as they stream past and
// remembers the SHA-256 each item's "ingested" event records. It holds at
// most one line (bounded by chain.MaxExportLine) and one hash per item.
type ingestScanner struct {
	partial []byte
	sums    map[string][]string // evidence id → ingested sha256s
	err     error
}

func newIngestScanner() *ingestScanner { return &ingestScanner{sums: map[string][]string{}} }

func (s *ingestScanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.err == nil {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			if len(s.partial) > chain.MaxExportLine {
				s.err = fmt.Errorf("a line is longer than %d bytes", chain.MaxExportLine)
			}
			break
		}
		s.line(append(s.partial, p[:i]...))
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
	return n, nil // never fail the copy; finish reports
}

func (s *ingestScanner) line(l []byte) {
	if !bytes.Contains(l, []byte(`"ingested"`)) {
		return // cheap filter: most lines are other events
	}
	var e struct {
		Type       string `json:"type"`
		EvidenceID string `json:"evidence_id"`
		Action     string `json:"action"`
		Details    struct {
			SHA256 string `json:"sha256"`
		} `json:"details"`
	}
	if json.Unmarshal(l, &e) != nil || e.Type != chain.LineEvent || e.Action != string(chain.ActionIngested) {
		return
	}
	s.sums[e.EvidenceID] = append(s.sums[e.EvidenceID], e.Details.SHA256)
}

func (s *ingestScanner) finish() error {
	if len(s.partial) > 0 {
		s.line(s.partial)
		s.partial = nil
	}
	return s.err
}

func (s *ingestScanner) has(id, sum string) bool {
	for _, v := range s.sums[id] {
		if v == sum {
			return true
		}
	}
	return false
}
