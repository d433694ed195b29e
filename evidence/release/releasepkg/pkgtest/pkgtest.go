// Package pkgtest makes realistic release packages for tests and
// benchmarks: clip files on disk with render reports, a custody excerpt
// whose chains and signed checkpoint cover every source item, and the
// release's own event chain. It is used by the releasepkg tests, the
// `dems verify` tests and the benchmarks, so all check the same thing.
package pkgtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/release/releasepkg"
)

// Key is the fixed test agency key.
func Key() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))
}

// Now is the fixed build time.
var Now = time.Date(2026, 12, 7, 15, 4, 5, 0, time.UTC)

// Fixture is a release ready to Build.
type Fixture struct {
	Spec      releasepkg.Spec
	ClipFiles []string // the rendered clips on disk
	ClipBytes int64
	// Excerpt and Events are the custody excerpt and release events that
	// Build hands to releasepkg.Build (fresh readers each time).
	Excerpt, Events []byte
}

// NewFixture writes clips of the given sizes (pseudo-random bytes) into
// dir and prepares a spec releasing them, signed with key.
func NewFixture(dir string, key ed25519.PrivateKey, clipSizes ...int64) (*Fixture, error) {
	f := &Fixture{}
	releaseID := uuid.MustParse("7e1ea5e0-0000-4000-8000-000000000001")
	var heads []chain.Event
	var excerptEvents []chain.Event
	for i, size := range clipSizes {
		id := uuid.MustParse(fmt.Sprintf("5041ce00-0000-4000-8000-%012d", i+1))
		name := fmt.Sprintf("cam%02d-2026-03-0%d.mp4", i+1, i%9+1)
		path := filepath.Join(dir, name)
		outSum, err := writeClip(path, size, uint64(i+1))
		if err != nil {
			return nil, err
		}
		srcSum := sha256.Sum256([]byte("original recording " + id.String()))
		t0 := Now.Add(-72 * time.Hour).Add(time.Duration(i) * time.Minute)
		ingested := chain.Event{EvidenceID: id, Seq: 1, Time: t0, Actor: "dock:garage-3", Action: chain.ActionIngested,
			Details: []byte(fmt.Sprintf(`{"sha256":%q,"size":%d}`, hex.EncodeToString(srcSum[:]), 1<<30))}
		ingested.Seal()
		created := chain.Event{EvidenceID: id, Seq: 2, Time: t0.Add(time.Hour), Actor: "user:r.officer", Action: chain.ActionRedactionCreated,
			Details: []byte(`{"spec_version":2}`), PrevHash: ingested.Hash}
		created.Seal()
		approved := chain.Event{EvidenceID: id, Seq: 3, Time: t0.Add(2 * time.Hour), Actor: "user:s.checker", Action: chain.ActionRedactionApproved,
			Details: []byte(fmt.Sprintf(`{"output_sha256":%q,"spec_version":2}`, outSum)), PrevHash: created.Hash}
		approved.Seal()
		excerptEvents = append(excerptEvents, ingested, created, approved)
		heads = append(heads, approved)
		render, _ := json.Marshal(map[string]any{
			"version": 1, "source": map[string]any{"path": "original.mp4", "size": 1 << 30, "sha256": hex.EncodeToString(srcSum[:])},
			"output": map[string]any{"path": name, "size": size, "sha256": outSum}, "clip_source": id.String(),
			"in": 10.0, "out": 70.0, "frames": 1800, "samples": 0, "rendered_at": t0.Add(90 * time.Minute),
			"items": []map[string]any{
				{"id": "face-1", "kind": "region", "start": 12.0, "end": 30.5, "output_start": 2.0, "output_end": 20.5, "method": "blur strength 40 (ellipse)", "reason": "bystander face", "origin": "detected", "frames": 555},
				{"id": "audio-1", "kind": "audio", "start": 40.0, "end": 44.0, "output_start": 30.0, "output_end": 34.0, "method": "mute (digital silence)", "reason": "name of a minor", "origin": "manual", "frames": 0},
			},
			"spec": map[string]any{},
		})
		approval := &releasepkg.Approval{ApprovedBy: "s.checker", ApprovedAt: approved.Time, SpecVersion: 2, OutputSHA256: outSum}
		f.ClipFiles = append(f.ClipFiles, path)
		f.ClipBytes += size
		f.Spec.Clips = append(f.Spec.Clips, releasepkg.Clip{
			Name: name, Open: func(context.Context) (io.ReadCloser, error) { return os.Open(path) },
			RenderReport: render, SourceEvidenceID: id.String(), SpecVersion: 2,
			Exemptions: map[string][]string{"audio-1": {"b7(C)"}}, DefaultExemptions: []string{"b6"}, Approval: approval,
		})
	}
	// One checkpoint over every source item's head.
	leaves := make([]chain.Hash, len(heads))
	for i, h := range heads {
		leaves[i] = chain.LeafHash(chain.Leaf{EvidenceID: h.EvidenceID, Seq: h.Seq, Hash: h.Hash}.Bytes())
	}
	var excerpt bytes.Buffer
	x := chain.NewExportWriter(&excerpt)
	x.Header("release:"+releaseID.String(), key.Public().(ed25519.PublicKey), Now)
	if len(heads) > 0 {
		tree := chain.NewTree(leaves)
		cp := chain.Checkpoint{ID: 17, Time: Now.Add(-time.Hour), TreeSize: int64(len(heads)), Root: tree.Root()}
		cp.Sign(key)
		var proofs []chain.ExportProof
		for i, h := range heads {
			p, err := tree.Proof(i)
			if err != nil {
				return nil, err
			}
			proofs = append(proofs, chain.ExportProof{EvidenceID: h.EvidenceID, Seq: h.Seq, Hash: h.Hash, LeafIndex: int64(i), Path: p})
		}
		x.Checkpoint(cp, proofs)
	}
	for i := range excerptEvents {
		x.Event(&excerptEvents[i])
	}
	if err := x.Close(); err != nil {
		return nil, err
	}
	// The release's own events: a chain keyed by the release id.
	var events bytes.Buffer
	rx := chain.NewExportWriter(&events)
	rx.Header("release:"+releaseID.String(), nil, Now)
	var prev chain.Hash
	for i, a := range []string{"release_created", "redaction_submitted", "redaction_approved", "released"} {
		e := chain.Event{EvidenceID: releaseID, Seq: int64(i + 1), Time: Now.Add(time.Duration(i-4) * time.Minute),
			Actor: "user:r.officer", Action: chain.Action(a), Details: []byte(`{}`), PrevHash: prev}
		e.Seal()
		prev = e.Hash
		rx.Event(&e)
	}
	if err := rx.Close(); err != nil {
		return nil, err
	}
	f.Spec.ReleaseID = releaseID.String()
	f.Spec.RequestNumber = "REQ-2026-0042"
	f.Spec.Agency = releasepkg.Agency{Name: "Example City Police Department", ContactEmail: "records@example.org",
		Address: []string{"Records Unit", "1 Main Street", "Example City, EX 12345"}}
	f.Spec.Requester = releasepkg.Requester{Name: "Jane Requester", Email: "jane@example.net", Address: []string{"22 Side Street", "Example City"}}
	f.Spec.Letter = releasepkg.Letter{
		Paragraphs: []string{
			"Dear Ms. Requester,",
			"This letter responds to your public records request REQ-2026-0042 for body-worn camera recordings of the incident of 1 March 2026 on Main Street.",
			"We are releasing the recordings listed below. Faces of bystanders and the name of a minor were redacted; each redaction, its time range and the exemption that applies are listed in the redaction report that accompanies each recording. One recording is withheld in full, for the reason given below.",
			"You may appeal this decision within 30 days of the date of this letter.",
		},
		Signatory: "R. Officer", Title: "Records Officer",
	}
	f.Spec.Withheld = []releasepkg.WithheldItem{{EvidenceID: "5041ce00-0000-4000-8000-000000000099",
		Description: "In-car recording, unit 12", Exemptions: []string{"b7(A)"}, Note: "part of an open investigation"}}
	f.Excerpt, f.Events = excerpt.Bytes(), events.Bytes()
	f.Spec.SigningKey = key
	f.Spec.Now = Now
	return f, nil
}

// writeClip writes size pseudo-random bytes and returns their SHA-256.
func writeClip(path string, size int64, seed uint64) (string, error) {
	out, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(&randReader{r: rand.NewChaCha8([32]byte{byte(seed)})}, size)); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type randReader struct{ r *rand.ChaCha8 }

func (r *randReader) Read(p []byte) (int, error) { return r.r.Read(p) }

// Build writes the fixture's package to path (it may be called again).
func (f *Fixture) Build(ctx context.Context, path string) (*releasepkg.Result, error) {
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	spec := f.Spec
	spec.CustodyExcerpt, spec.ReleaseEvents = bytes.NewReader(f.Excerpt), bytes.NewReader(f.Events)
	res, err := releasepkg.Build(ctx, out, spec)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return res, err
}
