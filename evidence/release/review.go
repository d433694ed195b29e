package release

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/storage"
)

// ReviewState is where a review stands.
type ReviewState string

// Review states. pending and approved are live; a clip has at most one
// live review.
const (
	ReviewPending  ReviewState = "pending"
	ReviewApproved ReviewState = "approved"
	ReviewRejected ReviewState = "rejected"
	ReviewVoided   ReviewState = "voided"
)

// Comment is a reviewer's remark on one region or time range of a clip.
type Comment struct {
	// Region is a redaction item id of the spec ("face-1"), or empty.
	Region string `json:"region,omitempty"`
	// Start and End bound the remark on the clip's timeline, seconds
	// (both zero: the whole clip or the region).
	Start float64 `json:"start,omitempty"`
	End   float64 `json:"end,omitempty"`
	Text  string  `json:"text"`
}

// Review is one clip's redaction submitted for a second person's review.
type Review struct {
	ID           uuid.UUID   `json:"id"`
	RequestID    uuid.UUID   `json:"request_id"`
	ClipID       uuid.UUID   `json:"clip_id"`
	EvidenceID   uuid.UUID   `json:"evidence_id"`
	SpecVersion  int         `json:"spec_version"`
	OutputID     uuid.UUID   `json:"output_id"`
	OutputSHA256 string      `json:"output_sha256"`
	SubmittedBy  string      `json:"submitted_by"`
	SubmittedAt  time.Time   `json:"submitted_at"`
	Note         string      `json:"note,omitempty"`
	State        ReviewState `json:"state"`
	DecidedBy    string      `json:"decided_by,omitempty"`
	DecidedAt    *time.Time  `json:"decided_at,omitempty"`
	Comment      string      `json:"comment,omitempty"`
	Comments     []Comment   `json:"comments"`
	VoidReason   string      `json:"void_reason,omitempty"`
}

// Settings are the release settings (configs' releases section).
type Settings struct {
	Agency Agency
	// PublicURL is the server's address, for share links.
	PublicURL    string
	RetainFor    time.Duration // how long a package is locked in storage
	ShareDefault time.Duration // share link expiry when none is asked for
	ShareMax     time.Duration // the longest expiry a link may have
	// PasscodeAttempts wrong passcodes lock a link for PasscodeLockout.
	PasscodeAttempts int
	PasscodeLockout  time.Duration
	// ShareSessionWindow: a download with activity within it is in
	// progress; views within it reach custody once (0 = one hour).
	ShareSessionWindow time.Duration
}

// Agency is who releases (the package's Source-Organization and letter).
type Agency struct {
	Name         string
	ContactEmail string
	Address      []string
	Signatory    string
	Title        string
}

// PasswordHasher hashes and checks share link passcodes (identity's
// argon2id hasher).
type PasswordHasher interface {
	Hash(password string) (string, error)
	Verify(password, encoded string) (bool, error)
}

// Service keeps reviews, releases and share links.
type Service struct {
	db       *pgxpool.Pool
	requests *request.Store
	store    storage.Store
	key      func() []byte // the agency's Ed25519 private key (custody checkpoint key)
	settings Settings
	hasher   PasswordHasher
	log      *slog.Logger
	now      func() time.Time
	tempDir  string
	queue    request.Queue
}

// Deps are what a Service needs.
type Deps struct {
	Pool     *pgxpool.Pool
	Requests *request.Store
	Storage  storage.Store
	// SigningKey is the custody checkpoint key (ed25519.PrivateKey bytes).
	SigningKey []byte
	Settings   Settings
	Hasher     PasswordHasher
	Logger     *slog.Logger
	Now        func() time.Time
	// TempDir holds scratch files of a build: the custody excerpt, and the
	// package itself only on a store without storage.StreamCreator
	// ("" = os.TempDir()).
	TempDir string
	// Queue enqueues build jobs (river's client); nil in a process that
	// only runs them.
	Queue request.Queue
}

// New returns a Service.
func New(d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Settings.ShareSessionWindow <= 0 {
		d.Settings.ShareSessionWindow = time.Hour
	}
	key := d.SigningKey
	return &Service{db: d.Pool, requests: d.Requests, store: d.Storage, key: func() []byte { return key },
		settings: d.Settings, hasher: d.Hasher, log: d.Logger, now: d.Now, tempDir: d.TempDir, queue: d.Queue}
}

// Audit event types of this package.
const (
	AuditReview  audit.EventType = "redaction_review"
	AuditRelease audit.EventType = "release"
	AuditShare   audit.EventType = "release_share"
)

func (s *Service) audit(ctx context.Context, q audit.Querier, who request.Actor, typ audit.EventType, outcome audit.Outcome, evidenceID uuid.UUID, details map[string]any) error {
	_, err := audit.Record(ctx, q, audit.Entry{Time: s.now(), Component: "release", EventType: typ, Actor: who.Name,
		UserID: who.UserID, Outcome: outcome, SourceAddr: who.Addr, EvidenceID: evidenceID, Details: details})
	return err
}

// timeline appends a line to the request's timeline; the caller holds the
// request's row lock.
func timeline(ctx context.Context, tx pgx.Tx, requestID uuid.UUID, at time.Time, actor, kind string, details map[string]any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO access_request_events (request_id, seq, at, actor, kind, details)
		SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5 FROM access_request_events WHERE request_id = $1`,
		requestID, at, actor, kind, b)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return nil
}

// lockRequest locks a request row and returns its state and number.
func lockRequest(ctx context.Context, tx pgx.Tx, id uuid.UUID) (state request.State, number string, err error) {
	err = tx.QueryRow(ctx, `SELECT state, tracking_number FROM access_requests WHERE id = $1 FOR UPDATE`, id).Scan(&state, &number)
	if errors.Is(err, pgx.ErrNoRows) {
		err = evidence.NotFound("request")
	}
	return state, number, err
}

// setState moves a locked request to another state (the state machine of
// package request decides whether it may), with its timeline line.
func setState(ctx context.Context, tx pgx.Tx, id uuid.UUID, from, to request.State, at time.Time, actor string, details map[string]any) error {
	if err := request.CheckTransition(from, "", to); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE access_requests SET state = $2, version = version + 1, updated_at = $3 WHERE id = $1`, id, to, at); err != nil {
		return err
	}
	if details == nil {
		details = map[string]any{}
	}
	details["from"], details["to"] = string(from), string(to)
	return timeline(ctx, tx, id, at, actor, string(request.EventTransition), details)
}

const reviewCols = `r.id, r.request_id, r.clip_id, c.evidence_id, r.spec_version, r.output_id, r.output_sha256, r.submitted_by,
	r.submitted_at, r.note, r.state, coalesce(r.decided_by, ''), r.decided_at, r.comment, r.comments, r.void_reason`

const reviewFrom = ` FROM redaction_reviews r JOIN request_clips c ON c.id = r.clip_id `

func scanReview(row pgx.Row) (Review, error) {
	var r Review
	var sum, comments []byte
	err := row.Scan(&r.ID, &r.RequestID, &r.ClipID, &r.EvidenceID, &r.SpecVersion, &r.OutputID, &sum, &r.SubmittedBy,
		&r.SubmittedAt, &r.Note, &r.State, &r.DecidedBy, &r.DecidedAt, &r.Comment, &comments, &r.VoidReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, evidence.NotFound("review")
	}
	if err != nil {
		return r, err
	}
	r.OutputSHA256 = hex.EncodeToString(sum)
	if err := json.Unmarshal(comments, &r.Comments); err != nil {
		return r, err
	}
	if r.Comments == nil {
		r.Comments = []Comment{}
	}
	return r, nil
}

// Review returns one review.
func (s *Service) Review(ctx context.Context, id uuid.UUID) (Review, error) {
	r, err := scanReview(s.db.QueryRow(ctx, `SELECT `+reviewCols+reviewFrom+`WHERE r.id = $1`, id))
	if err != nil {
		return r, fmt.Errorf("review %s: %w", id, err)
	}
	return r, nil
}

// Reviews lists a request's reviews, oldest first (voided and rejected
// ones too: they are the review's history).
func (s *Service) Reviews(ctx context.Context, requestID uuid.UUID) ([]Review, error) {
	rows, err := s.db.Query(ctx, `SELECT `+reviewCols+reviewFrom+`WHERE r.request_id = $1 ORDER BY r.submitted_at, r.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("reviews of %s: %w", requestID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Review, error) { return scanReview(r) })
	if err != nil {
		return nil, fmt.Errorf("reviews of %s: %w", requestID, err)
	}
	return out, nil
}

// SubmitInput submits a clip's redaction for review.
type SubmitInput struct {
	Note string `json:"note,omitempty"`
}

// Submit binds the clip's latest spec version and the latest render of
// that version into a pending review. When every clip still linked has a
// live review, a redacting request goes to in_review.
func (s *Service) Submit(ctx context.Context, requestID, clipID uuid.UUID, who request.Actor, in SubmitInput) (Review, error) {
	if err := checkText("note", in.Note, 2000, false); err != nil {
		return Review{}, err
	}
	var id uuid.UUID
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		state, number, err := lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		if state != request.StateRedacting && state != request.StateInReview {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("request %s is %s: clips are submitted for review while it is redacting or in_review", number, state), nil)
		}
		var evID uuid.UUID
		var removed *time.Time
		err = tx.QueryRow(ctx, `SELECT evidence_id, removed_at FROM request_clips WHERE id = $1 AND request_id = $2`, clipID, requestID).Scan(&evID, &removed)
		if errors.Is(err, pgx.ErrNoRows) {
			return evidence.NotFound("clip")
		}
		if err != nil {
			return err
		}
		if removed != nil {
			return evidence.E(evidence.ErrConflict, "", "the clip was removed from the request", nil)
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM redaction_spec_versions WHERE clip_id = $1`, clipID).Scan(&version); err != nil {
			return err
		}
		if version == 0 {
			return evidence.E(evidence.ErrConflict, "", "the clip has no redaction spec yet: save one and render it first", nil)
		}
		var outID uuid.UUID
		var sum []byte
		err = tx.QueryRow(ctx, `SELECT id, sha256 FROM redaction_job_outputs WHERE clip_id = $1 AND kind = 'render'
			ORDER BY created_at DESC, id DESC LIMIT 1`, clipID).Scan(&outID, &sum)
		if errors.Is(err, pgx.ErrNoRows) {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("spec version %d has not been rendered: start a render job first", version), nil)
		}
		if err != nil {
			return err
		}
		var renderedVersion int
		if err := tx.QueryRow(ctx, `SELECT spec_version FROM redaction_job_outputs WHERE id = $1`, outID).Scan(&renderedVersion); err != nil {
			return err
		}
		if renderedVersion != version {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("the latest render is of spec version %d, the spec is at version %d: render it again first", renderedVersion, version), nil)
		}
		var live int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM redaction_reviews WHERE clip_id = $1 AND state IN ('pending', 'approved')`, clipID).Scan(&live); err != nil {
			return err
		}
		if live > 0 {
			return evidence.E(evidence.ErrConflict, "", "the clip is already submitted (a review is pending or approved)", nil)
		}
		now := s.now()
		if err := tx.QueryRow(ctx, `INSERT INTO redaction_reviews (request_id, clip_id, spec_version, output_id, output_sha256,
			submitted_by, submitted_at, note, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') RETURNING id`,
			requestID, clipID, version, outID, sum, who.Name, now, in.Note).Scan(&id); err != nil {
			return err
		}
		details := map[string]any{"review_id": id.String(), "clip_id": clipID.String(), "spec_version": version,
			"output_sha256": hex.EncodeToString(sum)}
		if err := timeline(ctx, tx, requestID, now, who.Name, "review_submitted", details); err != nil {
			return err
		}
		if state == request.StateRedacting {
			var unsubmitted int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM request_clips c WHERE c.request_id = $1 AND c.removed_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM redaction_reviews r WHERE r.clip_id = c.id AND r.state IN ('pending', 'approved'))`, requestID).Scan(&unsubmitted); err != nil {
				return err
			}
			if unsubmitted == 0 {
				if err := setState(ctx, tx, requestID, state, request.StateInReview, now, who.Name, map[string]any{"note": "every clip submitted for review"}); err != nil {
					return err
				}
			}
		}
		details["request"], details["change"] = number, "review_submitted"
		return s.audit(ctx, tx, who, AuditReview, audit.OutcomeSuccess, evID, details)
	})
	if err != nil {
		return Review{}, fmt.Errorf("submit clip %s for review: %w", clipID, err)
	}
	return s.Review(ctx, id)
}

// DutyConflict says why someone may not decide a review: they made what
// is reviewed. It wraps evidence.ErrPermission (403).
type DutyConflict struct {
	Who     string   `json:"who"`
	Reasons []string `json:"reasons"`
}

func (e *DutyConflict) Error() string {
	return fmt.Sprintf("separation of duties: %s may not review this redaction because they %s; a second person must decide",
		e.Who, strings.Join(e.Reasons, " and "))
}

// Unwrap gives the kind.
func (e *DutyConflict) Unwrap() error { return evidence.ErrPermission }

// SeparationRule is the rule as policy explain shows it.
const SeparationRule = "separation of duties (evidence/release): nobody who authored a spec version of a clip, linked the clip or submitted it for review may approve or reject its redaction"

// SeparationOfDuties reports whether actor may decide the review: nil, or
// a *DutyConflict naming every part they had in the work.
func (s *Service) SeparationOfDuties(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, rv Review, actor string) error {
	var authored []int32
	var linkedBy string
	if err := q.QueryRow(ctx, `SELECT coalesce(array_agg(version ORDER BY version) FILTER (WHERE author = $2), '{}'),
		(SELECT linked_by FROM request_clips WHERE id = $1) FROM redaction_spec_versions WHERE clip_id = $1`, rv.ClipID, actor).Scan(&authored, &linkedBy); err != nil {
		return fmt.Errorf("separation of duties: %w", err)
	}
	var reasons []string
	if len(authored) > 0 {
		vs := make([]string, len(authored))
		for i, v := range authored {
			vs[i] = fmt.Sprint(v)
		}
		reasons = append(reasons, "authored spec version "+strings.Join(vs, ", "))
	}
	if linkedBy == actor {
		reasons = append(reasons, "linked the clip to the request")
	}
	if rv.SubmittedBy == actor {
		reasons = append(reasons, "submitted it for review")
	}
	if len(reasons) > 0 {
		return &DutyConflict{Who: actor, Reasons: reasons}
	}
	return nil
}

// DecisionInput approves or rejects a review.
type DecisionInput struct {
	Comment  string    `json:"comment,omitempty"`
	Comments []Comment `json:"comments,omitempty"`
}

func (in *DecisionInput) validate(requireComment bool) error {
	if err := checkText("comment", in.Comment, 4000, requireComment && len(in.Comments) == 0); err != nil {
		return err
	}
	if len(in.Comments) > 500 {
		return evidence.Invalid("comments", "at most 500")
	}
	for i, c := range in.Comments {
		if err := checkText(fmt.Sprintf("comments[%d].text", i), c.Text, 2000, true); err != nil {
			return err
		}
		if err := checkText(fmt.Sprintf("comments[%d].region", i), c.Region, 100, false); err != nil {
			return err
		}
		if c.Start < 0 || c.End < 0 || (c.End != 0 && c.End < c.Start) || math.IsNaN(c.Start+c.End) || math.IsInf(c.Start+c.End, 0) {
			return evidence.Invalid(fmt.Sprintf("comments[%d]", i), "start and end are seconds, end not before start")
		}
	}
	return nil
}

// Approve records the second person's approval of a pending review: it
// binds the spec version and the output's SHA-256 the review was
// submitted with, provided neither changed. When every linked clip is
// approved, the request goes from in_review to approved.
func (s *Service) Approve(ctx context.Context, requestID, reviewID uuid.UUID, who request.Actor, in DecisionInput) (Review, error) {
	return s.decide(ctx, requestID, reviewID, who, in, ReviewApproved)
}

// Reject sends a review back with comments (a comment is required); the
// request returns to redacting.
func (s *Service) Reject(ctx context.Context, requestID, reviewID uuid.UUID, who request.Actor, in DecisionInput) (Review, error) {
	return s.decide(ctx, requestID, reviewID, who, in, ReviewRejected)
}

func (s *Service) decide(ctx context.Context, requestID, reviewID uuid.UUID, who request.Actor, in DecisionInput, to ReviewState) (Review, error) {
	if err := in.validate(to == ReviewRejected); err != nil {
		return Review{}, err
	}
	if in.Comments == nil {
		in.Comments = []Comment{}
	}
	var refused error
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		state, number, err := lockRequest(ctx, tx, requestID)
		if err != nil {
			return err
		}
		rv, err := scanReview(tx.QueryRow(ctx, `SELECT `+reviewCols+reviewFrom+`WHERE r.id = $1 AND r.request_id = $2 FOR UPDATE OF r`, reviewID, requestID))
		if err != nil {
			return err
		}
		if err := s.SeparationOfDuties(ctx, tx, rv, who.Name); err != nil {
			refused = err
			return nil
		}
		if rv.State != ReviewPending {
			msg := fmt.Sprintf("the review is %s, not pending", rv.State)
			if rv.State == ReviewVoided {
				msg += " (" + rv.VoidReason + "); the clip must be submitted again"
			}
			return evidence.E(evidence.ErrConflict, "", msg, nil)
		}
		if state != request.StateInReview {
			return evidence.E(evidence.ErrConflict, "", fmt.Sprintf("request %s is %s: reviews are decided while it is in_review", number, state), nil)
		}
		// The voiding trigger makes a changed clip's review voided, so a
		// pending review still names the latest version and render; check
		// anyway, the approval is what a release trusts.
		var latest int
		var renderSum []byte
		if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT max(version) FROM redaction_spec_versions WHERE clip_id = $1), 0),
			(SELECT sha256 FROM redaction_job_outputs WHERE clip_id = $1 AND kind = 'render' ORDER BY created_at DESC, id DESC LIMIT 1)`,
			rv.ClipID).Scan(&latest, &renderSum); err != nil {
			return err
		}
		if latest != rv.SpecVersion || hex.EncodeToString(renderSum) != rv.OutputSHA256 {
			return evidence.E(evidence.ErrConflict, "", "the clip changed since it was submitted; it must be submitted again", nil)
		}
		now := s.now()
		cj, _ := json.Marshal(in.Comments)
		if _, err := tx.Exec(ctx, `UPDATE redaction_reviews SET state = $2, decided_by = $3, decided_at = $4, comment = $5, comments = $6
			WHERE id = $1`, reviewID, to, who.Name, now, in.Comment, cj); err != nil {
			return err
		}
		details := map[string]any{"review_id": reviewID.String(), "clip_id": rv.ClipID.String(), "spec_version": rv.SpecVersion,
			"output_sha256": rv.OutputSHA256, "comment": in.Comment, "comments": len(in.Comments)}
		kind := "review_" + string(to)
		if err := timeline(ctx, tx, requestID, now, who.Name, kind, details); err != nil {
			return err
		}
		if to == ReviewApproved {
			if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: rv.EvidenceID, Actor: who.Name,
				Action: custody.ActionRedactionApproved, Time: now, Details: map[string]any{"request": number,
					"request_id": requestID.String(), "clip_id": rv.ClipID.String(), "review_id": reviewID.String(),
					"spec_version": rv.SpecVersion, "output_sha256": rv.OutputSHA256, "submitted_by": rv.SubmittedBy}}); err != nil {
				return err
			}
			var open int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM request_clips c WHERE c.request_id = $1 AND c.removed_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM redaction_reviews r WHERE r.clip_id = c.id AND r.state = 'approved')`, requestID).Scan(&open); err != nil {
				return err
			}
			if open == 0 {
				if err := setState(ctx, tx, requestID, state, request.StateApproved, now, who.Name, map[string]any{"note": "every clip approved by a second reviewer"}); err != nil {
					return err
				}
			}
		} else {
			if err := setState(ctx, tx, requestID, state, request.StateRedacting, now, who.Name, map[string]any{"note": "a reviewer rejected a clip"}); err != nil {
				return err
			}
		}
		details["request"], details["change"] = number, kind
		return s.audit(ctx, tx, who, AuditReview, audit.OutcomeSuccess, rv.EvidenceID, details)
	})
	if err == nil && refused != nil {
		// The refusal is audited outside the aborted decision.
		rv, _ := s.Review(ctx, reviewID)
		_ = s.audit(ctx, s.db, who, AuditReview, audit.OutcomeDenied, rv.EvidenceID, map[string]any{
			"review_id": reviewID.String(), "decision": string(to), "reason": refused.Error()})
		err = refused
	}
	if err != nil {
		return Review{}, fmt.Errorf("%s review %s: %w", strings.TrimSuffix(string(to), "d"), reviewID, err)
	}
	return s.Review(ctx, reviewID)
}

func checkText(field, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return evidence.Invalid(field, "required")
	case len(v) > max:
		return &evidence.Error{Kind: evidence.ErrTooLarge, Msg: fmt.Sprintf("%s: %d bytes, limit %d", field, len(v), max)}
	case !utf8.ValidString(v):
		return evidence.Invalid(field, "not valid UTF-8")
	}
	for _, r := range v {
		if (r < 0x20 && r != '\n' && r != '\t' && r != '\r') || r == 0x7f {
			return evidence.Invalid(field, fmt.Sprintf("control character %U not allowed", r))
		}
	}
	return nil
}
