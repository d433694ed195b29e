package releasepkg

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/release/bagit"
)

// Problem kinds of the release layer (the bag's own kinds come first).
const (
	KindIndex   = "index"   // release.json missing or inconsistent with the bag
	KindReport  = "report"  // a clip and its redaction report disagree
	KindCustody = "custody" // the custody excerpt or the release events do not verify
	KindSource  = "source"  // a report's source is not in the custody excerpt
)

// Problem is one failure; Event names a custody event ("evidence <id>
// seq <n>") when one is at fault.
type Problem struct {
	Kind    string `json:"kind"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Event   string `json:"event,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var where []string
	if p.File != "" {
		where = append(where, p.File)
	}
	if p.Line > 0 {
		where = append(where, fmt.Sprintf("line %d", p.Line))
	}
	if p.Event != "" {
		where = append(where, p.Event)
	}
	if len(where) == 0 {
		return p.Message
	}
	return strings.Join(where, " ") + ": " + p.Message
}

// Report is the result of verifying a release package.
type Report struct {
	Bag      *bagit.Report `json:"bag"`
	Index    *Index        `json:"release,omitempty"`
	Custody  *chain.Report `json:"custody,omitempty"`
	Events   *chain.Report `json:"release_events,omitempty"`
	Clips    int           `json:"clips_checked"`
	Problems []Problem     `json:"problems,omitempty"`
	// KeySource says where the trusted key came from ("" when only the
	// embedded key was used).
	KeySource string `json:"key_source,omitempty"`
}

// OK reports whether everything verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// ErrNotVerified is wrapped by Verify's error when the package fails.
var ErrNotVerified = errors.New("release package does not verify")

// VerifyError names the first problem.
type VerifyError struct {
	First Problem
	Count int
}

func (e *VerifyError) Error() string {
	if e.Count > 1 {
		return fmt.Sprintf("release package does not verify: %s (and %d more problems)", e.First, e.Count-1)
	}
	return "release package does not verify: " + e.First.String()
}

// Unwrap lets callers test errors.Is(err, ErrNotVerified).
func (e *VerifyError) Unwrap() error { return ErrNotVerified }

// VerifyOptions: TrustedKey (from --key or pinned from the server) and
// KeySource, for the report; Progress is called as payload is hashed.
type VerifyOptions struct {
	TrustedKey ed25519.PublicKey
	KeySource  string
	Progress   func(done, total int64)
	// SHA256Only recomputes only the SHA-256 payload manifest (every
	// byte is still checked, against the signed SHA-256 manifest); the
	// SHA-512 manifest is checked for completeness, not recomputed.
	SHA256Only bool
}

// Verify checks a release package completely: the bag (signature
// required), then the release layer (see the package documentation). It
// returns an error wrapping ErrNotVerified that names the first problem,
// or another error when verification could not run.
func Verify(ctx context.Context, b *bagit.Bag, opt VerifyOptions) (*Report, error) {
	rep := &Report{KeySource: opt.KeySource}
	bopt := bagit.VerifyOptions{TrustedKey: opt.TrustedKey, RequireSignature: true, Progress: opt.Progress}
	if opt.SHA256Only {
		bopt.PayloadAlgorithms = []string{"sha256"}
	}
	bagRep, err := bagit.Verify(ctx, b, bopt)
	rep.Bag = bagRep
	var ie *bagit.InvalidError
	if err != nil && !errors.As(err, &ie) {
		return rep, err
	}
	for _, p := range bagRep.Problems {
		rep.Problems = append(rep.Problems, Problem{Kind: p.Kind, File: p.File, Line: p.Line, Message: p.Message})
	}
	// The release layer is checked even when the bag failed, so that the
	// report says as much as it can; the first problem stays the bag's.
	v := releaseVerifier{b: b, rep: rep, trusted: opt.TrustedKey}
	if opt.TrustedKey == nil {
		v.trusted = v.embeddedKey()
	}
	v.run(ctx)
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if len(rep.Problems) > 0 {
		return rep, &VerifyError{First: rep.Problems[0], Count: len(rep.Problems)}
	}
	return rep, nil
}

type releaseVerifier struct {
	b       *bagit.Bag
	rep     *Report
	trusted ed25519.PublicKey
}

func (v *releaseVerifier) problem(kind, file, event, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, Problem{Kind: kind, File: file, Event: event, Message: fmt.Sprintf(format, args...)})
}

// embeddedKey is the bag's signing key when it parses; checkpoints must
// be signed by the same agency key.
func (v *releaseVerifier) embeddedKey() ed25519.PublicKey {
	data, err := v.b.ReadFile(bagit.SigningKey)
	if err != nil {
		return nil
	}
	k, err := bagit.ParsePublicKey(data)
	if err != nil {
		return nil
	}
	return k
}

func (v *releaseVerifier) readJSON(name string, into any) bool {
	data, err := v.b.ReadFile(name)
	if err != nil {
		v.problem(KindIndex, name, "", "missing or unreadable: %v", err)
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		v.problem(KindIndex, name, "", "not valid JSON of the expected form: %v", err)
		return false
	}
	return true
}

func (v *releaseVerifier) run(ctx context.Context) {
	var idx Index
	if !v.readJSON(IndexFile, &idx) {
		return
	}
	v.rep.Index = &idx
	if idx.Format != IndexFormat || idx.Version != FormatVersion {
		v.problem(KindIndex, IndexFile, "", "format %q version %d, want %q version %d", idx.Format, idx.Version, IndexFormat, FormatVersion)
		return
	}
	if id, _ := v.rep.Bag.Info.Get("External-Identifier"); id != idx.RequestNumber {
		v.problem(KindIndex, IndexFile, "", "request number %q, bag-info.txt External-Identifier %q", idx.RequestNumber, id)
	}
	if v.rep.Bag.KeyID != "" && idx.KeyID != v.rep.Bag.KeyID {
		v.problem(KindIndex, IndexFile, "", "key id %s, but the bag is signed by %s", idx.KeyID, v.rep.Bag.KeyID)
	}
	sums := map[string]bagit.PayloadFile{}
	for _, p := range v.rep.Bag.Payload {
		sums[p.Path] = p
	}
	for _, f := range []string{idx.Letter, idx.Custody, idx.ReleaseEvents, idx.Withheld.JSON, idx.Withheld.CSV} {
		if _, ok := sums[f]; !ok {
			v.problem(KindIndex, IndexFile, "", "names %q, which is not in the payload", f)
		}
	}
	var withheld []WithheldItem
	if v.readJSON(idx.Withheld.JSON, &withheld) && len(withheld) != idx.Withheld.Count {
		v.problem(KindIndex, idx.Withheld.JSON, "", "%d items, release.json says %d", len(withheld), idx.Withheld.Count)
	}
	// Custody first: the clips' sources are looked up in it.
	ingested := v.verifyCustody(idx.Custody, &v.rep.Custody, true)
	v.verifyCustody(idx.ReleaseEvents, &v.rep.Events, false)
	for _, c := range idx.Clips {
		v.rep.Clips++
		p, ok := sums[c.File]
		switch {
		case !ok:
			v.problem(KindIndex, IndexFile, "", "clip %s is not in the payload", c.File)
			continue
		case p.SHA256 != c.SHA256 || p.Size != c.Size:
			v.problem(KindIndex, IndexFile, "", "clip %s: release.json says SHA-256 %s (%d bytes), the file is %s (%d bytes)", c.File, c.SHA256, c.Size, p.SHA256, p.Size)
		}
		var cr ClipReport
		if !v.readJSON(c.ReportJSON, &cr) {
			continue
		}
		switch {
		case cr.Clip != c.File:
			v.problem(KindReport, c.ReportJSON, "", "report is about %s, release.json pairs it with %s", cr.Clip, c.File)
		case cr.Output.SHA256 != p.SHA256 || cr.Output.Size != p.Size:
			v.problem(KindReport, c.ReportJSON, "", "output SHA-256 %s (%d bytes), but %s is %s (%d bytes)", cr.Output.SHA256, cr.Output.Size, c.File, p.SHA256, p.Size)
		case cr.Approval != nil && cr.Approval.OutputSHA256 != p.SHA256:
			v.problem(KindReport, c.ReportJSON, "", "the approval binds output %s, but %s is %s", cr.Approval.OutputSHA256, c.File, p.SHA256)
		case cr.Source.SHA256 != c.SourceSHA256 || cr.SourceEvidenceID != c.SourceEvidenceID:
			v.problem(KindReport, c.ReportJSON, "", "source %s %s, release.json says %s %s", cr.SourceEvidenceID, cr.Source.SHA256, c.SourceEvidenceID, c.SourceSHA256)
		case ingested != nil && !ingested.has(cr.SourceEvidenceID, cr.Source.SHA256):
			v.problem(KindSource, c.ReportJSON, "", "source item %s with SHA-256 %s has no ingested event in %s", cr.SourceEvidenceID, cr.Source.SHA256, idx.Custody)
		}
		var rr renderReport
		if data, err := v.b.ReadFile(c.RenderReport); err != nil || json.Unmarshal(data, &rr) != nil {
			v.problem(KindReport, c.RenderReport, "", "render report missing or not JSON")
		} else if rr.Output.SHA256 != p.SHA256 || rr.Source.SHA256 != cr.Source.SHA256 {
			v.problem(KindReport, c.RenderReport, "", "render report names output %s from source %s; the clip is %s", rr.Output.SHA256, rr.Source.SHA256, p.SHA256)
		}
	}
}

// verifyCustody runs the custody verifier over an export in the payload.
// For the excerpt (requireCovered), every item must be covered by a
// checkpoint signed with the trusted key; it returns the ingested hashes.
func (v *releaseVerifier) verifyCustody(name string, out **chain.Report, requireCovered bool) *ingestScanner {
	r, err := v.b.OpenFile(name)
	if err != nil {
		v.problem(KindCustody, name, "", "missing: %v", err)
		return nil
	}
	defer r.Close()
	scan := newIngestScanner()
	rep, err := chain.VerifyExport(bufio.NewReader(io.TeeReader(r, scan)), v.trusted)
	*out = &rep
	scan.finish()
	var ve *chain.VerificationError
	switch {
	case errors.As(err, &ve):
		for _, p := range rep.Problems {
			event := ""
			if p.EvidenceID != [16]byte{} {
				event = fmt.Sprintf("evidence %s seq %d", p.EvidenceID, p.Seq)
			}
			v.rep.Problems = append(v.rep.Problems, Problem{Kind: KindCustody, File: name, Line: p.Line, Event: event, Message: string(p.Kind) + ": " + p.Message})
		}
	case err != nil:
		v.problem(KindCustody, name, "", "%v", err)
	case requireCovered && rep.Uncovered > 0:
		v.problem(KindCustody, name, "", "%d of %d items are not covered by a signed checkpoint", rep.Uncovered, rep.Items)
	case requireCovered && v.trusted == nil:
		v.problem(KindCustody, name, "", "no key to check the checkpoints with")
	}
	return scan
}
