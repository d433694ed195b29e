package release

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/release/releasepkg"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/storage"
)

// KindRelease is the resource kind of releases in the route table.
const KindRelease = "release"

// State is where a release stands.
type State string

// Release states.
const (
	StateBuilding State = "building"
	StateReleased State = "released"
	StateFailed   State = "failed"
)

// File is one payload file of a package, for the share page.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Release is one built (or failed) release package of a request.
type Release struct {
	ID             uuid.UUID  `json:"id"`
	RequestID      uuid.UUID  `json:"request_id"`
	TrackingNumber string     `json:"tracking_number"`
	State          State      `json:"state"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	ReleasedAt     *time.Time `json:"released_at,omitempty"`
	PackageName    string     `json:"package_name,omitempty"`
	PackageSHA256  string     `json:"package_sha256,omitempty"`
	PackageSize    int64      `json:"package_size,omitempty"`
	RetainUntil    *time.Time `json:"retain_until,omitempty"`
	KeyID          string     `json:"key_id,omitempty"`
	Files          []File     `json:"files"`
	Error          string     `json:"error,omitempty"`
	// Job is the build job (river) while and after the package is built.
	Job *BuildJob `json:"job,omitempty"`
	// SourceItems are the evidence items the clips were cut from.
	SourceItems []uuid.UUID `json:"source_items"`
}

// Attributes implements api.Loaded: releases belong to the agency, like
// requests.
func (r *Release) Attributes() evidence.Attributes {
	return evidence.Attributes{Kind: KindRelease, ID: r.ID.String(), UnitPath: request.UnitPath}
}

const releaseCols = `r.id, r.request_id, q.tracking_number, r.state, r.created_by, r.created_at, r.released_at, r.package_name,
	r.package_sha256, coalesce(r.package_size, 0), r.retain_until, r.key_id, r.files, r.error,
	coalesce((SELECT array_agg(DISTINCT evidence_id) FROM release_clips WHERE release_id = r.id), '{}'),
	r.job_id, r.progress, r.message, coalesce(j.state::text, 'unknown'), coalesce(j.attempt, 0), coalesce(j.max_attempts, 0),
	coalesce(j.errors[array_length(j.errors, 1)] ->> 'error', '')`

const releaseFrom = ` FROM releases r JOIN access_requests q ON q.id = r.request_id LEFT JOIN river_job j ON j.id = r.job_id `

func scanRelease(row pgx.Row) (Release, error) {
	var r Release
	var sum, files []byte
	var jobID *int64
	var job BuildJob
	var progress float32
	err := row.Scan(&r.ID, &r.RequestID, &r.TrackingNumber, &r.State, &r.CreatedBy, &r.CreatedAt, &r.ReleasedAt, &r.PackageName,
		&sum, &r.PackageSize, &r.RetainUntil, &r.KeyID, &files, &r.Error, &r.SourceItems,
		&jobID, &progress, &job.Message, &job.State, &job.Attempt, &job.MaxAttempts, &job.LastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, evidence.NotFound("release")
	}
	if err != nil {
		return r, err
	}
	if sum != nil {
		r.PackageSHA256 = hex.EncodeToString(sum)
	}
	if err := json.Unmarshal(files, &r.Files); err != nil {
		return r, err
	}
	if r.Files == nil {
		r.Files = []File{}
	}
	if jobID != nil {
		job.ID, job.Progress = *jobID, float64(progress)
		r.Job = &job
	}
	return r, nil
}

// Get returns one release.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Release, error) {
	r, err := scanRelease(s.db.QueryRow(ctx, `SELECT `+releaseCols+releaseFrom+`WHERE r.id = $1`, id))
	if err != nil {
		return r, fmt.Errorf("release %s: %w", id, err)
	}
	return r, nil
}

// List returns a request's releases, newest first.
func (s *Service) List(ctx context.Context, requestID uuid.UUID) ([]Release, error) {
	rows, err := s.db.Query(ctx, `SELECT `+releaseCols+releaseFrom+`WHERE r.request_id = $1 ORDER BY r.created_at DESC`, requestID)
	if err != nil {
		return nil, fmt.Errorf("releases of %s: %w", requestID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Release, error) { return scanRelease(r) })
	if err != nil {
		return nil, fmt.Errorf("releases of %s: %w", requestID, err)
	}
	return out, nil
}

// PackageRef is where a released package is stored; ErrConflict when the
// release was not (or not yet) released.
func (r *Release) PackageRef() (storage.Ref, error) {
	if r.State == StateBuilding {
		p := 0.0
		if r.Job != nil {
			p = r.Job.Progress
		}
		return storage.Ref{}, &evidence.Error{Kind: evidence.ErrConflict, Code: "release_building",
			Msg: fmt.Sprintf("release %s is still being built (%.0f%%): fetch the package when its state is released", r.ID, p)}
	}
	if r.State != StateReleased {
		return storage.Ref{}, evidence.E(evidence.ErrConflict, "", fmt.Sprintf("release %s is %s: only a released package (built from approved material) can be fetched", r.ID, r.State), nil)
	}
	d, err := storage.ParseDigest(r.PackageSHA256)
	if err != nil {
		return storage.Ref{}, err
	}
	return storage.Ref{Namespace: storage.Derivatives, Digest: d}, nil
}

// ReleaseInput is what a release asks for beyond the request's approved
// clips and withholdings.
type ReleaseInput struct {
	// Letter paragraphs of the response letter ("" uses a standard text).
	Letter []string `json:"letter,omitempty"`
	// Description goes into bag-info's Internal-Sender-Description.
	Description string `json:"description,omitempty"`
}

// approvedClip is one clip a release contains.
type approvedClip struct {
	review     Review
	objectKey  string
	details    []byte
	sourceSize int64
}

// Release reserves a release of the request (state building) naming
// exactly its approved reviews and open withholdings, and enqueues the
// job that builds the package (BuildWorker), in one transaction: the
// caller gets the release at once (202) and follows its progress. The
// request must be approved: every clip still linked must have a live
// approval whose spec version and output are current (409 otherwise), and
// no other build of the request may be running (409).
func (s *Service) Release(ctx context.Context, requestID uuid.UUID, who request.Actor, in ReleaseInput) (Release, error) {
	if err := checkText("description", in.Description, 1000, false); err != nil {
		return Release{}, err
	}
	for i, p := range in.Letter {
		if err := checkText(fmt.Sprintf("letter[%d]", i), p, 4000, false); err != nil {
			return Release{}, err
		}
	}
	if len(s.key()) != ed25519.PrivateKeySize {
		return Release{}, evidence.E(evidence.ErrUnavailable, "release", "no signing key is configured", nil)
	}
	if s.queue == nil {
		return Release{}, evidence.E(evidence.ErrUnavailable, "release", "no job queue: this process cannot start builds", nil)
	}
	inputJSON, err := json.Marshal(in)
	if err != nil {
		return Release{}, err
	}
	releaseID := uuid.New()
	now := s.now()
	// Reserve the release: it names exactly the approved reviews.
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		state, number, err := lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		if state != request.StateApproved {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("request %s is %s: only an approved request is released (every clip approved by a second reviewer)", number, state), nil)
		}
		var building uuid.UUID
		err = tx.QueryRow(ctx, `SELECT id FROM releases WHERE request_id = $1 AND state = 'building'`, requestID).Scan(&building)
		if err == nil {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("release %s of request %s is being built: wait for it or cancel it", building, number), nil)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		clips, err := approvedClips(ctx, tx, `WHERE r.request_id = $1 AND c.removed_at IS NULL AND r.state = 'approved' ORDER BY c.linked_at, c.id`, requestID)
		if err != nil {
			return err
		}
		var linked int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM request_clips WHERE request_id = $1 AND removed_at IS NULL`, requestID).Scan(&linked); err != nil {
			return err
		}
		if linked != len(clips) {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("%d of %d clips lack a live approval", linked-len(clips), linked), nil)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO releases (id, request_id, state, created_by, created_at, input, message)
			VALUES ($1, $2, 'building', $3, $4, $5, 'queued')`, releaseID, requestID, who.Name, now, inputJSON); err != nil {
			return err
		}
		for _, c := range clips {
			if _, err := tx.Exec(ctx, `INSERT INTO release_clips (release_id, clip_id, review_id, evidence_id) VALUES ($1, $2, $3, $4)`,
				releaseID, c.review.ClipID, c.review.ID, c.review.EvidenceID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO release_withheld (release_id, withheld_id)
			SELECT $1, id FROM request_withheld WHERE request_id = $2 AND ended_at IS NULL`, releaseID, requestID); err != nil {
			return err
		}
		if err := s.appendReleaseEvent(ctx, tx, releaseID, now, who.Name, "release_created", map[string]any{
			"request": number, "request_id": requestID.String(), "clips": len(clips)}); err != nil {
			return err
		}
		for _, c := range clips {
			r := c.review
			if err := s.appendReleaseEvent(ctx, tx, releaseID, r.SubmittedAt, r.SubmittedBy, "redaction_submitted", map[string]any{
				"review_id": r.ID.String(), "clip_id": r.ClipID.String(), "evidence_id": r.EvidenceID.String(),
				"spec_version": r.SpecVersion, "output_sha256": r.OutputSHA256}); err != nil {
				return err
			}
			if err := s.appendReleaseEvent(ctx, tx, releaseID, *r.DecidedAt, r.DecidedBy, "redaction_approved", map[string]any{
				"review_id": r.ID.String(), "clip_id": r.ClipID.String(), "spec_version": r.SpecVersion,
				"output_sha256": r.OutputSHA256, "comment": r.Comment}); err != nil {
				return err
			}
		}
		res, err := s.queue.InsertTx(ctx, tx, BuildArgs{ReleaseID: releaseID, RequestedBy: who.Name, UserID: who.UserID, Addr: who.Addr}, nil)
		if err != nil {
			return fmt.Errorf("enqueue build: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE releases SET job_id = $2 WHERE id = $1`, releaseID, res.Job.ID); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, who, AuditRelease, audit.OutcomeSuccess, uuid.Nil, map[string]any{"change": "build_started",
			"release_id": releaseID.String(), "request": number, "job_id": res.Job.ID, "clips": len(clips)}); err != nil {
			return err
		}
		return timeline(ctx, tx, requestID, now, who.Name, "release_started", map[string]any{"release_id": releaseID.String(), "clips": len(clips), "job_id": res.Job.ID})
	})
	if err != nil {
		return Release{}, fmt.Errorf("release request %s: %w", requestID, err)
	}
	return s.Get(ctx, releaseID)
}

// approvedClips reads the reviews (and their outputs) a release names;
// where selects them (one argument).
func approvedClips(ctx context.Context, q pgx.Tx, where string, arg any) ([]approvedClip, error) {
	rows, err := q.Query(ctx, `SELECT `+reviewCols+`, o.object_key, o.details, coalesce(i.size, 0) `+reviewFrom+`
		JOIN redaction_job_outputs o ON o.id = r.output_id JOIN evidence_items i ON i.id = c.evidence_id `+where, arg)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (approvedClip, error) {
		var ac approvedClip
		var sum, comments []byte
		r := &ac.review
		err := row.Scan(&r.ID, &r.RequestID, &r.ClipID, &r.EvidenceID, &r.SpecVersion, &r.OutputID, &sum, &r.SubmittedBy,
			&r.SubmittedAt, &r.Note, &r.State, &r.DecidedBy, &r.DecidedAt, &r.Comment, &comments, &r.VoidReason,
			&ac.objectKey, &ac.details, &ac.sourceSize)
		r.OutputSHA256 = hex.EncodeToString(sum)
		return ac, err
	})
}

// BuildRelease builds the package of a reserved release (state building):
// what BuildWorker runs. progress (may be nil) hears how far it got. A
// release that is no longer building (cancelled, built) is left alone
// (ErrNotBuilding).
func (s *Service) BuildRelease(ctx context.Context, releaseID uuid.UUID, who request.Actor, progress func(percent float64, msg string)) error {
	if progress == nil {
		progress = func(float64, string) {}
	}
	// A cancelled release stops its build even where river's cancel does
	// not reach the worker's context (another process, no notifications).
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.cancelled(releaseID) {
					stop(fmt.Errorf("release %s was cancelled: %w", releaseID, ErrNotBuilding))
					return
				}
			}
		}
	}()
	key := ed25519.PrivateKey(s.key())
	if len(key) != ed25519.PrivateKeySize {
		return evidence.E(evidence.ErrUnavailable, "release", "no signing key is configured", nil)
	}
	var requestID uuid.UUID
	var state State
	var inputJSON []byte
	err := s.db.QueryRow(ctx, `SELECT request_id, state, input FROM releases WHERE id = $1`, releaseID).Scan(&requestID, &state, &inputJSON)
	if errors.Is(err, pgx.ErrNoRows) {
		return evidence.NotFound("release")
	}
	if err != nil {
		return err
	}
	if state != StateBuilding {
		return fmt.Errorf("release %s is %s: %w", releaseID, state, ErrNotBuilding)
	}
	var in ReleaseInput
	if err := json.Unmarshal(inputJSON, &in); err != nil {
		return fmt.Errorf("release %s: input: %w", releaseID, err)
	}
	req, err := s.requests.Get(ctx, requestID)
	if err != nil {
		return err
	}
	var clips []approvedClip
	err = pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		clips, err = approvedClips(ctx, tx, `JOIN release_clips rc ON rc.review_id = r.id WHERE rc.release_id = $1 ORDER BY c.linked_at, c.id`, releaseID)
		return err
	})
	if err != nil {
		return err
	}
	for _, c := range clips {
		if c.review.State != ReviewApproved {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("the approval of clip %s was %s after the release was started; release again after approval", c.review.ClipID, c.review.State), nil)
		}
	}
	withheld, err := s.requests.WithheldItems(ctx, requestID)
	if err != nil {
		return err
	}
	_, err = s.build(ctx, req, releaseID, clips, withheld, who, in, key, progress)
	if err != nil && s.stateOf(releaseID) == StateReleased {
		return nil // it was recorded; only reading it back was cut short
	}
	if err != nil && context.Cause(ctx) != nil && errors.Is(context.Cause(ctx), ErrNotBuilding) {
		return context.Cause(ctx)
	}
	return err
}

// ErrNotBuilding: the release's build was cancelled or is done.
var ErrNotBuilding = errors.New("release is not being built")

// appendReleaseEvent appends to the release's own hash chain.
func (s *Service) appendReleaseEvent(ctx context.Context, tx pgx.Tx, releaseID uuid.UUID, at time.Time, actor, action string, details map[string]any) error {
	var seq int64
	var prev []byte
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM release_events WHERE release_id = $1 ORDER BY seq DESC LIMIT 1`, releaseID).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	d, err := json.Marshal(details)
	if err != nil {
		return err
	}
	canon, err := chain.Canonicalize(d)
	if err != nil {
		return err
	}
	// PostgreSQL keeps microseconds: seal what will be read back.
	e := chain.Event{EvidenceID: releaseID, Seq: seq + 1, Time: at.UTC().Truncate(time.Microsecond), Actor: actor, Action: chain.Action(action), Details: canon}
	if prev != nil {
		copy(e.PrevHash[:], prev)
	}
	e.Seal()
	_, err = tx.Exec(ctx, `INSERT INTO release_events (release_id, seq, at, actor, action, details, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, releaseID, e.Seq, e.Time, actor, action, string(e.Details), e.PrevHash[:], e.Hash[:])
	return err
}

// ReleaseEvents writes the release's chain in the custody export format.
func (s *Service) ReleaseEvents(ctx context.Context, releaseID uuid.UUID, w io.Writer) error {
	rows, err := s.db.Query(ctx, `SELECT seq, at, actor, action, details, prev_hash, hash FROM release_events WHERE release_id = $1 ORDER BY seq`, releaseID)
	if err != nil {
		return err
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chain.Event, error) {
		var e chain.Event
		var details string
		var prev, hash []byte
		err := r.Scan(&e.Seq, &e.Time, &e.Actor, &e.Action, &details, &prev, &hash)
		e.EvidenceID, e.Details = releaseID, []byte(details)
		copy(e.PrevHash[:], prev)
		copy(e.Hash[:], hash)
		return e, err
	})
	if err != nil {
		return err
	}
	x := chain.NewExportWriter(w)
	if err := x.Header("release:"+releaseID.String(), nil, s.now()); err != nil {
		return err
	}
	for i := range evs {
		if err := x.Event(&evs[i]); err != nil {
			return err
		}
	}
	return x.Close()
}

// excerpt checkpoints every chain head and exports the source items'
// chains with the covering checkpoint into a temporary file; the export
// is verified (every head covered, signed by key) before it is used. A
// head that moved between checkpoint and export is retried.
func (s *Service) excerpt(ctx context.Context, releaseID uuid.UUID, items []uuid.UUID, key ed25519.PrivateKey) (*os.File, error) {
	pub := key.Public().(ed25519.PublicKey)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if _, err := custody.Checkpoint(ctx, s.db, s.store, key); err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(s.tempDir, "release-excerpt-*.jsonl")
		if err != nil {
			return nil, err
		}
		os.Remove(f.Name()) // unlinked: gone when closed, whatever happens
		err = pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			return custody.Export(ctx, tx, f, custody.Scope{Items: items, Label: "release:" + releaseID.String()}, pub)
		})
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("custody excerpt: %w", err)
		}
		rep, verr := chain.VerifyExport(f, pub)
		if verr == nil && rep.Uncovered == 0 {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				f.Close()
				return nil, err
			}
			return f, nil
		}
		f.Close()
		lastErr = verr
		if lastErr == nil {
			lastErr = fmt.Errorf("%d item heads not covered by a checkpoint", rep.Uncovered)
		}
	}
	return nil, fmt.Errorf("custody excerpt does not verify: %w", lastErr)
}

// build streams the package straight into storage (storage.CreateStream:
// each clip is read once, hashed with SHA-256 and SHA-512 as it goes into
// the ZIP, and the ZIP is hashed by the backend as it is written), then
// records it in one transaction.
func (s *Service) build(ctx context.Context, req request.Request, releaseID uuid.UUID, clips []approvedClip, withheld []request.Withheld,
	who request.Actor, in ReleaseInput, key ed25519.PrivateKey, progress func(float64, string)) (Release, error) {
	items := make([]uuid.UUID, 0, len(clips))
	for _, c := range clips {
		items = append(items, c.review.EvidenceID)
	}
	now := s.now()
	var spec releasepkg.Spec
	spec.ReleaseID, spec.RequestNumber = releaseID.String(), req.TrackingNumber
	ag := s.settings.Agency
	spec.Agency = releasepkg.Agency{Name: ag.Name, ContactEmail: ag.ContactEmail, Address: ag.Address}
	spec.Requester = releasepkg.Requester{Name: req.RequesterName, Address: []string{req.Contact}}
	spec.Description = in.Description
	paras := in.Letter
	if len(paras) == 0 {
		paras = []string{
			fmt.Sprintf("This responds to your public records request %s received on %s.", req.TrackingNumber, req.ReceivedAt.UTC().Format("January 2, 2006")),
			"The recordings listed below are released with redactions. Each redaction cites its exemption; items withheld in full are listed with theirs.",
		}
	}
	spec.Letter = releasepkg.Letter{Subject: "Response to public records request " + req.TrackingNumber, Paragraphs: paras,
		Signatory: ag.Signatory, Title: ag.Title}
	spec.SigningKey, spec.Now = key, now
	names := map[string]int{}
	meter := &buildMeter{report: progress}
	for _, c := range clips {
		c := c
		var det struct {
			Report json.RawMessage `json:"report"`
		}
		if err := json.Unmarshal(c.details, &det); err != nil || len(det.Report) == 0 {
			return Release{}, evidence.E(evidence.ErrConflict, "", fmt.Sprintf("render %s of clip %s has no render report", c.review.OutputID, c.review.ClipID), err)
		}
		d, err := storage.ParseDigest(c.review.OutputSHA256)
		if err != nil {
			return Release{}, err
		}
		ref := storage.Ref{Namespace: storage.Derivatives, Digest: d}
		obj, err := s.store.Stat(ctx, ref)
		if err != nil {
			return Release{}, fmt.Errorf("clip %s: %w", c.review.ClipID, err)
		}
		meter.total += obj.Size
		base := "clip-" + c.review.ClipID.String()[:8]
		names[base]++
		name := base + ".mp4"
		if names[base] > 1 {
			name = fmt.Sprintf("%s-%d.mp4", base, names[base])
		}
		approvedAt := *c.review.DecidedAt
		spec.Clips = append(spec.Clips, releasepkg.Clip{
			Name: name,
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				rc, err := s.store.Open(ctx, ref, 0, -1)
				if err != nil {
					return nil, err
				}
				return meter.reader(rc), nil
			},
			RenderReport:     det.Report,
			SourceEvidenceID: c.review.EvidenceID.String(),
			SpecVersion:      c.review.SpecVersion,
			Approval: &releasepkg.Approval{ApprovedBy: c.review.DecidedBy, ApprovedAt: approvedAt.UTC(),
				SpecVersion: c.review.SpecVersion, OutputSHA256: c.review.OutputSHA256, Comment: c.review.Comment},
		})
	}
	for _, w := range withheld {
		if w.EndedAt != nil {
			continue
		}
		var sum []byte
		_ = s.db.QueryRow(ctx, `SELECT sha256 FROM evidence_items WHERE id = $1`, w.EvidenceID).Scan(&sum)
		spec.Withheld = append(spec.Withheld, releasepkg.WithheldItem{EvidenceID: w.EvidenceID.String(), SHA256: hex.EncodeToString(sum),
			Description: "Recording " + w.EvidenceID.String(), Exemptions: w.Exemptions, Note: w.Note})
	}
	// The released event closes the chain that goes into the package (an
	// attempt after a failed one finds it there already).
	progress(0, "custody excerpt")
	if err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var last string
		err := tx.QueryRow(ctx, `SELECT action FROM release_events WHERE release_id = $1 ORDER BY seq DESC LIMIT 1 FOR UPDATE`, releaseID).Scan(&last)
		if err != nil || last == "released" {
			return err
		}
		return s.appendReleaseEvent(ctx, tx, releaseID, now, who.Name, "released", map[string]any{
			"request": req.TrackingNumber, "clips": len(spec.Clips), "withheld": len(spec.Withheld)})
	}); err != nil {
		return Release{}, err
	}
	excerpt, err := s.excerpt(ctx, releaseID, items, key)
	if err != nil {
		return Release{}, err
	}
	defer excerpt.Close()
	var events bytes.Buffer
	if err := s.ReleaseEvents(ctx, releaseID, &events); err != nil {
		return Release{}, err
	}
	spec.CustodyExcerpt, spec.ReleaseEvents = excerpt, &events

	retain := now.Add(s.settings.RetainFor)
	out, err := storage.CreateStream(ctx, s.store, storage.Derivatives, storage.PutOptions{RetainUntil: retain, ContentType: "application/zip"}, s.tempDir)
	if err != nil {
		return Release{}, fmt.Errorf("store package: %w", err)
	}
	defer out.Abort() // a no-op once committed
	progress(0, "streaming clips into the package")
	res, err := releasepkg.Build(ctx, out, spec)
	if err != nil {
		return Release{}, err
	}
	progress(100, "storing the package")
	obj, err := out.Commit(ctx)
	if err != nil {
		return Release{}, fmt.Errorf("store package: %w", err)
	}
	// The digest and size are the backend's, computed from the bytes it
	// wrote: they are what the release records and custody cites.
	digest, size := obj.Digest, obj.Size
	ref := obj.Ref
	// An identical object stored before keeps its own lock; extend it.
	if err := s.store.ExtendRetention(ctx, ref, retain); err != nil && !errors.Is(err, storage.ErrRetentionShortened) {
		return Release{}, fmt.Errorf("lock package: %w", err)
	}
	files := make([]File, 0, len(res.Payload))
	for _, p := range res.Payload {
		files = append(files, File{Path: p.Path, Size: p.Size, SHA256: p.SHA256})
	}
	filesJSON, _ := json.Marshal(files)
	name := releasepkg.BagName(req.TrackingNumber, releaseID.String()) + ".zip"
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		state, number, err := lockRequest(ctx, tx, req.ID)
		if err != nil {
			return err
		}
		var relState State
		if err := tx.QueryRow(ctx, `SELECT state FROM releases WHERE id = $1 FOR UPDATE`, releaseID).Scan(&relState); err != nil {
			return err
		}
		if relState != StateBuilding {
			return fmt.Errorf("release %s became %s while its package was built: %w", releaseID, relState, ErrNotBuilding)
		}
		if state != request.StateApproved {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("request %s became %s while its package was built (a clip changed); release again after approval", number, state), nil)
		}
		var voided int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM release_clips rc JOIN redaction_reviews r ON r.id = rc.review_id
			WHERE rc.release_id = $1 AND r.state <> 'approved'`, releaseID).Scan(&voided); err != nil {
			return err
		}
		if voided > 0 {
			return evidence.E(evidence.ErrConflict, "", "an approval was voided while the package was built; release again after approval", nil)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO objects (namespace, sha256, size, backend, content_type, retain_until)
			VALUES ('derivatives', $1, $2, $3, 'application/zip', $4)
			ON CONFLICT (namespace, sha256) DO UPDATE SET retain_until = greatest(objects.retain_until, EXCLUDED.retain_until)`,
			digest[:], size, backendName(s.store), retain); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE releases SET state = 'released', released_at = $2, package_name = $3, package_sha256 = $4,
			package_size = $5, retain_until = $6, key_id = $7, files = $8, progress = 100, message = 'released' WHERE id = $1`,
			releaseID, now, name, digest[:], size, retain, res.KeyID, filesJSON); err != nil {
			return err
		}
		for _, c := range clips {
			if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: c.review.EvidenceID, Actor: who.Name, Action: custody.ActionReleased,
				Time: now, Details: map[string]any{"request": number, "request_id": req.ID.String(), "release_id": releaseID.String(),
					"clip_id": c.review.ClipID.String(), "output_sha256": c.review.OutputSHA256, "package_sha256": digest.String()}}); err != nil {
				return err
			}
		}
		if err := setState(ctx, tx, req.ID, state, request.StateReleased, now, who.Name, map[string]any{
			"release_id": releaseID.String(), "package_sha256": digest.String(), "package_size": size}); err != nil {
			return err
		}
		return s.audit(ctx, tx, who, AuditRelease, audit.OutcomeSuccess, uuid.Nil, map[string]any{"change": "released",
			"release_id": releaseID.String(), "request": number, "package_sha256": digest.String(), "package_size": size,
			"clips": len(clips), "withheld": len(spec.Withheld)})
	})
	if err != nil {
		return Release{}, err
	}
	return s.Get(ctx, releaseID)
}

func backendName(st storage.Store) string {
	if n, ok := st.(interface{ Name() string }); ok {
		return n.Name()
	}
	return "unknown"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// buildMeter turns the clip bytes streamed so far into progress reports,
// at most twice a second (clips are nearly all of a package's bytes).
type buildMeter struct {
	total, done int64
	last        time.Time
	report      func(float64, string)
}

func (m *buildMeter) reader(rc io.ReadCloser) io.ReadCloser { return &meteredReader{rc, m} }

type meteredReader struct {
	io.ReadCloser
	m *buildMeter
}

func (r *meteredReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	m := r.m
	m.done += int64(n)
	if m.total > 0 && time.Since(m.last) >= 500*time.Millisecond {
		m.last = time.Now()
		m.report(99*float64(m.done)/float64(m.total), fmt.Sprintf("streaming clips into the package: %d of %d MB", m.done>>20, m.total>>20))
	}
	return n, err
}
