package release

import (
	"archive/zip"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/storage"
)

// ShareStatus is whether a link still works.
type ShareStatus string

// Share link statuses.
const (
	ShareActive    ShareStatus = "active"
	ShareExpired   ShareStatus = "expired"
	ShareRevoked   ShareStatus = "revoked"
	ShareExhausted ShareStatus = "download_limit_reached"
)

// Share is a link through which one recipient fetches a released package.
type Share struct {
	ID           uuid.UUID   `json:"id"`
	ReleaseID    uuid.UUID   `json:"release_id"`
	Recipient    string      `json:"recipient"`
	HasPasscode  bool        `json:"has_passcode"`
	MaxDownloads *int        `json:"max_downloads,omitempty"`
	Downloads    int         `json:"downloads"`
	ExpiresAt    time.Time   `json:"expires_at"`
	CreatedBy    string      `json:"created_by"`
	CreatedAt    time.Time   `json:"created_at"`
	RevokedAt    *time.Time  `json:"revoked_at,omitempty"`
	RevokedBy    string      `json:"revoked_by,omitempty"`
	RevokeReason string      `json:"revoke_reason,omitempty"`
	LockedUntil  *time.Time  `json:"locked_until,omitempty"`
	Status       ShareStatus `json:"status"`
	// Activity: counts of the link's events.
	Views       int   `json:"views"`
	Fetches     int   `json:"fetches"`
	BytesServed int64 `json:"bytes_served"`

	passcodeHash string
	failed       int
}

// ShareEvent is one view, download or refusal of a link.
type ShareEvent struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"` // view, download, passcode_failed, refused, revoked
	File     string    `json:"file,omitempty"`
	Bytes    int64     `json:"bytes"`
	Complete bool      `json:"complete"`
	Range    string    `json:"range,omitempty"`
	Address  string    `json:"address,omitempty"`
	Agent    string    `json:"agent,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// ShareInput creates a link.
type ShareInput struct {
	Recipient string `json:"recipient"`
	// ExpiresAt or ExpiresInDays; neither means the configured default.
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	ExpiresInDays int        `json:"expires_in_days,omitempty"`
	// Passcode, when set, must be given before anything is shown.
	Passcode     string `json:"passcode,omitempty"`
	MaxDownloads *int   `json:"max_downloads,omitempty"`
}

// TokenBytes is the link token's random length (128 bits).
const TokenBytes = 16

// MinPasscodeLen is the shortest passcode accepted.
const MinPasscodeLen = 6

func (sh *Share) status(now time.Time) ShareStatus {
	switch {
	case sh.RevokedAt != nil:
		return ShareRevoked
	case !now.Before(sh.ExpiresAt):
		return ShareExpired
	case sh.MaxDownloads != nil && sh.Downloads >= *sh.MaxDownloads:
		return ShareExhausted
	}
	return ShareActive
}

const shareCols = `s.id, s.release_id, s.recipient, s.passcode_hash, s.max_downloads, s.downloads, s.expires_at, s.created_by,
	s.created_at, s.revoked_at, coalesce(s.revoked_by, ''), s.revoke_reason, s.locked_until, s.failed_passcodes,
	(SELECT count(*) FROM release_share_events e WHERE e.share_id = s.id AND e.kind = 'view'),
	(SELECT count(*) FROM release_share_events e WHERE e.share_id = s.id AND e.kind = 'download'),
	(SELECT coalesce(sum(bytes), 0) FROM release_share_events e WHERE e.share_id = s.id AND e.kind = 'download')`

func (s *Service) scanShare(row pgx.Row) (Share, error) {
	var sh Share
	err := row.Scan(&sh.ID, &sh.ReleaseID, &sh.Recipient, &sh.passcodeHash, &sh.MaxDownloads, &sh.Downloads, &sh.ExpiresAt,
		&sh.CreatedBy, &sh.CreatedAt, &sh.RevokedAt, &sh.RevokedBy, &sh.RevokeReason, &sh.LockedUntil, &sh.failed,
		&sh.Views, &sh.Fetches, &sh.BytesServed)
	if errors.Is(err, pgx.ErrNoRows) {
		return sh, evidence.NotFound("share link")
	}
	sh.HasPasscode = sh.passcodeHash != ""
	sh.Status = sh.status(s.now())
	return sh, err
}

// Share returns one link of a release.
func (s *Service) Share(ctx context.Context, releaseID, shareID uuid.UUID) (Share, error) {
	sh, err := s.scanShare(s.db.QueryRow(ctx, `SELECT `+shareCols+` FROM release_shares s WHERE s.id = $1 AND s.release_id = $2`, shareID, releaseID))
	if err != nil {
		return sh, fmt.Errorf("share %s: %w", shareID, err)
	}
	return sh, nil
}

// Shares lists a release's links, newest first, with their activity.
func (s *Service) Shares(ctx context.Context, releaseID uuid.UUID) ([]Share, error) {
	rows, err := s.db.Query(ctx, `SELECT `+shareCols+` FROM release_shares s WHERE s.release_id = $1 ORDER BY s.created_at DESC`, releaseID)
	if err != nil {
		return nil, fmt.Errorf("shares of %s: %w", releaseID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Share, error) { return s.scanShare(r) })
	if err != nil {
		return nil, fmt.Errorf("shares of %s: %w", releaseID, err)
	}
	return out, nil
}

// ShareEvents lists a link's activity, oldest first.
func (s *Service) ShareEvents(ctx context.Context, shareID uuid.UUID) ([]ShareEvent, error) {
	rows, err := s.db.Query(ctx, `SELECT at, kind, file, bytes, complete, range_spec, address, agent, detail
		FROM release_share_events WHERE share_id = $1 ORDER BY at, id`, shareID)
	if err != nil {
		return nil, fmt.Errorf("share events of %s: %w", shareID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ShareEvent, error) {
		var e ShareEvent
		err := r.Scan(&e.At, &e.Kind, &e.File, &e.Bytes, &e.Complete, &e.Range, &e.Address, &e.Agent, &e.Detail)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("share events of %s: %w", shareID, err)
	}
	return out, nil
}

// CreateShare makes a link to a released package. The token is returned
// once; only its SHA-256 is stored.
func (s *Service) CreateShare(ctx context.Context, rel *Release, who request.Actor, in ShareInput) (Share, string, error) {
	if rel.State != StateReleased {
		return Share{}, "", evidence.E(evidence.ErrConflict, "", fmt.Sprintf("release %s is %s: only a released package (approved material) can be shared", rel.ID, rel.State), nil)
	}
	if err := checkText("recipient", in.Recipient, 200, true); err != nil {
		return Share{}, "", err
	}
	now := s.now()
	expires := now.Add(s.settings.ShareDefault)
	switch {
	case in.ExpiresAt != nil && in.ExpiresInDays != 0:
		return Share{}, "", evidence.Invalid("expires_at", "give expires_at or expires_in_days, not both")
	case in.ExpiresAt != nil:
		expires = *in.ExpiresAt
	case in.ExpiresInDays < 0:
		return Share{}, "", evidence.Invalid("expires_in_days", "must be positive")
	case in.ExpiresInDays > 0:
		expires = now.AddDate(0, 0, in.ExpiresInDays)
	}
	if !expires.After(now) {
		return Share{}, "", evidence.Invalid("expires_at", "must be in the future")
	}
	if expires.After(now.Add(s.settings.ShareMax).Add(time.Minute)) {
		return Share{}, "", evidence.Invalid("expires_at", fmt.Sprintf("at most %s ahead (releases.share_max_expiry)", s.settings.ShareMax))
	}
	if in.MaxDownloads != nil && (*in.MaxDownloads < 1 || *in.MaxDownloads > 1000) {
		return Share{}, "", evidence.Invalid("max_downloads", "between 1 and 1000")
	}
	var hash string
	if in.Passcode != "" {
		if len([]rune(in.Passcode)) < MinPasscodeLen || len(in.Passcode) > 200 {
			return Share{}, "", evidence.Invalid("passcode", fmt.Sprintf("%d to 200 characters", MinPasscodeLen))
		}
		if s.hasher == nil {
			return Share{}, "", evidence.E(evidence.ErrUnavailable, "", "passcodes are not configured", nil)
		}
		var err error
		if hash, err = s.hasher.Hash(in.Passcode); err != nil {
			return Share{}, "", err
		}
	}
	raw := make([]byte, TokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return Share{}, "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	var id uuid.UUID
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, _, err := lockRequest(ctx, tx, rel.RequestID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO release_shares (release_id, token_sha256, recipient, passcode_hash, max_downloads,
			expires_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			rel.ID, sum[:], in.Recipient, hash, in.MaxDownloads, expires, who.Name, now).Scan(&id); err != nil {
			return err
		}
		details := map[string]any{"release_id": rel.ID.String(), "share_id": id.String(), "recipient": in.Recipient,
			"expires_at": expires.UTC().Format(time.RFC3339), "passcode": hash != "", "max_downloads": in.MaxDownloads}
		if err := timeline(ctx, tx, rel.RequestID, now, who.Name, "share_created", details); err != nil {
			return err
		}
		details["change"] = "share_created"
		return s.audit(ctx, tx, who, AuditShare, audit.OutcomeSuccess, uuid.Nil, details)
	})
	if err != nil {
		return Share{}, "", fmt.Errorf("share release %s: %w", rel.ID, err)
	}
	sh, err := s.Share(ctx, rel.ID, id)
	return sh, token, err
}

// RevokeShare ends a link now; its recipient gets 410 from then on.
func (s *Service) RevokeShare(ctx context.Context, rel *Release, shareID uuid.UUID, who request.Actor, reason string) (Share, error) {
	if err := checkText("reason", reason, 2000, true); err != nil {
		return Share{}, err
	}
	now := s.now()
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, _, err := lockRequest(ctx, tx, rel.RequestID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE release_shares SET revoked_at = $3, revoked_by = $4, revoke_reason = $5
			WHERE id = $1 AND release_id = $2 AND revoked_at IS NULL`, shareID, rel.ID, now, who.Name, reason)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT true FROM release_shares WHERE id = $1 AND release_id = $2`, shareID, rel.ID).Scan(&exists); err != nil {
				return evidence.NotFound("share link")
			}
			return evidence.E(evidence.ErrConflict, "", "the link was revoked already", nil)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO release_share_events (share_id, at, kind, detail, address) VALUES ($1, $2, 'revoked', $3, $4)`,
			shareID, now, who.Name+": "+reason, who.Addr); err != nil {
			return err
		}
		details := map[string]any{"release_id": rel.ID.String(), "share_id": shareID.String(), "reason": reason}
		if err := timeline(ctx, tx, rel.RequestID, now, who.Name, "share_revoked", details); err != nil {
			return err
		}
		details["change"] = "share_revoked"
		return s.audit(ctx, tx, who, AuditShare, audit.OutcomeSuccess, uuid.Nil, details)
	})
	if err != nil {
		return Share{}, fmt.Errorf("revoke share %s: %w", shareID, err)
	}
	return s.Share(ctx, rel.ID, shareID)
}

// ShareGoneError is a link that no longer works (410).
type ShareGoneError struct{ Status ShareStatus }

func (e *ShareGoneError) Error() string {
	switch e.Status {
	case ShareRevoked:
		return "this link was revoked by the agency"
	case ShareExhausted:
		return "this link's download limit has been reached"
	}
	return "this link has expired"
}

// Unwrap gives the kind.
func (e *ShareGoneError) Unwrap() error { return evidence.ErrGone }

// resolve finds the link of a token and its release: 404 for an unknown
// token, 410 for a link that no longer works. exhaustedOK lets a page
// view through after the download limit (it still lists the files).
func (s *Service) resolve(ctx context.Context, token string, exhaustedOK bool) (Share, Release, error) {
	if len(token) < 16 || len(token) > 64 {
		return Share{}, Release{}, evidence.NotFound("share link")
	}
	sum := sha256.Sum256([]byte(token))
	sh, err := s.scanShare(s.db.QueryRow(ctx, `SELECT `+shareCols+` FROM release_shares s WHERE s.token_sha256 = $1`, sum[:]))
	if err != nil {
		return sh, Release{}, err
	}
	if sh.Status != ShareActive && !(exhaustedOK && sh.Status == ShareExhausted) {
		return sh, Release{}, &ShareGoneError{Status: sh.Status}
	}
	rel, err := s.Get(ctx, sh.ReleaseID)
	if err != nil {
		return sh, rel, err
	}
	if rel.State != StateReleased {
		return sh, rel, &ShareGoneError{Status: ShareRevoked}
	}
	return sh, rel, nil
}

// PasscodeError is a wrong or missing passcode (401); Locked says the link
// refuses every passcode until LockedUntil.
type PasscodeError struct {
	Missing     bool
	Locked      bool
	LockedUntil time.Time
	Left        int
}

func (e *PasscodeError) Error() string {
	switch {
	case e.Locked:
		return fmt.Sprintf("too many wrong passcodes: the link is locked until %s", e.LockedUntil.UTC().Format("15:04 MST"))
	case e.Missing:
		return "this link needs the passcode the agency gave you"
	}
	return fmt.Sprintf("wrong passcode (%d attempts left before the link is locked)", e.Left)
}

// Unwrap gives the kind.
func (e *PasscodeError) Unwrap() error { return evidence.ErrUnauthenticated }

// checkPasscode checks a passcode typed by the recipient, counting
// failures and locking the link after too many.
func (s *Service) checkPasscode(ctx context.Context, sh *Share, passcode string, ev ShareEvent) error {
	now := s.now()
	if sh.LockedUntil != nil && now.Before(*sh.LockedUntil) {
		return &PasscodeError{Locked: true, LockedUntil: *sh.LockedUntil}
	}
	if passcode == "" {
		return &PasscodeError{Missing: true}
	}
	ok, err := s.hasher.Verify(passcode, sh.passcodeHash)
	if err != nil {
		return err
	}
	if ok {
		if sh.failed > 0 {
			_, err = s.db.Exec(ctx, `UPDATE release_shares SET failed_passcodes = 0, locked_until = NULL WHERE id = $1`, sh.ID)
		}
		return err
	}
	var failed int
	var locked *time.Time
	err = s.db.QueryRow(ctx, `UPDATE release_shares SET
			failed_passcodes = CASE WHEN failed_passcodes + 1 >= $2 THEN 0 ELSE failed_passcodes + 1 END,
			locked_until = CASE WHEN failed_passcodes + 1 >= $2 THEN $3::timestamptz ELSE locked_until END
		WHERE id = $1 RETURNING failed_passcodes, locked_until`, sh.ID, s.settings.PasscodeAttempts, now.Add(s.settings.PasscodeLockout)).Scan(&failed, &locked)
	if err != nil {
		return err
	}
	ev.Kind = "passcode_failed"
	perr := &PasscodeError{Left: s.settings.PasscodeAttempts - failed}
	if locked != nil && now.Before(*locked) {
		perr = &PasscodeError{Locked: true, LockedUntil: *locked}
		ev.Detail = "locked until " + locked.UTC().Format(time.RFC3339)
	}
	if err := s.recordShare(ctx, sh, nil, ev); err != nil {
		return err
	}
	return perr
}

// unlockValue is what the recipient's cookie holds after the passcode:
// an HMAC of the link and its passcode hash under a key derived from the
// agency key, so changing nothing on the server invalidates nothing and a
// cookie of one link opens no other.
func (s *Service) unlockValue(sh *Share) string {
	k := sha256.Sum256(append([]byte("opendems share unlock\x00"), s.key()...))
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(sh.ID.String()))
	m.Write([]byte(sh.passcodeHash))
	return hex.EncodeToString(m.Sum(nil))
}

// recordShare records a refusal or a wrong passcode everywhere it must be
// seen: the link's events, the audit log and the request's timeline.
func (s *Service) recordShare(ctx context.Context, sh *Share, rel *Release, ev ShareEvent) error {
	ev.At = s.now()
	return s.inRequest(ctx, sh, rel, func(tx pgx.Tx, requestID uuid.UUID, _ []uuid.UUID) error {
		return s.recordInTx(ctx, tx, sh, requestID, nil, ev, true)
	})
}

// recordView records a view of the link's page or summary: every one in
// the link's events and the audit log, the first of each session window
// (releases.share_session_window) also in the request's timeline and the
// custody of every source item, so a page reloaded by a browser does not
// flood the chains.
func (s *Service) recordView(ctx context.Context, sh *Share, rel *Release, ev ShareEvent) error {
	ev.At, ev.Kind = s.now(), "view"
	return s.inRequest(ctx, sh, rel, func(tx pgx.Tx, requestID uuid.UUID, sources []uuid.UUID) error {
		tag, err := tx.Exec(ctx, `UPDATE release_shares SET view_recorded_at = $2
			WHERE id = $1 AND (view_recorded_at IS NULL OR view_recorded_at <= $3)`, sh.ID, ev.At, ev.At.Add(-s.settings.ShareSessionWindow))
		if err != nil {
			return err
		}
		first := tag.RowsAffected() == 1
		if !first {
			sources = nil
		}
		return s.recordInTx(ctx, tx, sh, requestID, sources, ev, first)
	})
}

// inRequest runs fn in a transaction holding the release's request row,
// which orders every record of the request's timeline.
func (s *Service) inRequest(ctx context.Context, sh *Share, rel *Release, fn func(tx pgx.Tx, requestID uuid.UUID, sources []uuid.UUID) error) error {
	var requestID uuid.UUID
	var sources []uuid.UUID
	if rel != nil {
		requestID, sources = rel.RequestID, rel.SourceItems
	} else if err := s.db.QueryRow(ctx, `SELECT request_id FROM releases WHERE id = $1`, sh.ReleaseID).Scan(&requestID); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, _, err := lockRequest(ctx, tx, requestID); err != nil {
			return err
		}
		return fn(tx, requestID, sources)
	})
}

// recordInTx writes one share event to the link's events and the audit
// log, and, when asked, to the request's timeline and (one custody event
// per item) the custody of the given source items.
func (s *Service) recordInTx(ctx context.Context, tx pgx.Tx, sh *Share, requestID uuid.UUID, custodyOf []uuid.UUID, ev ShareEvent, toTimeline bool) error {
	ev.Agent = truncate(ev.Agent, 500)
	ev.File = truncate(ev.File, 500)
	actor := "anonymous:share-" + sh.ID.String()[:8]
	if _, err := tx.Exec(ctx, `INSERT INTO release_share_events (share_id, at, kind, file, bytes, complete, range_spec, address, agent, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, sh.ID, ev.At, ev.Kind, ev.File, ev.Bytes, ev.Complete, ev.Range,
		ev.Address, ev.Agent, ev.Detail); err != nil {
		return err
	}
	details := map[string]any{"release_id": sh.ReleaseID.String(), "share_id": sh.ID.String(), "recipient": sh.Recipient,
		"kind": ev.Kind, "file": ev.File, "bytes": ev.Bytes, "complete": ev.Complete, "range": ev.Range,
		"address": ev.Address, "agent": ev.Agent}
	if ev.Detail != "" {
		details["detail"] = ev.Detail
	}
	if toTimeline {
		if err := timeline(ctx, tx, requestID, ev.At, actor, "share_"+ev.Kind, details); err != nil {
			return err
		}
	}
	for _, id := range custodyOf {
		if _, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: actor, Action: custody.ActionShared,
			Time: ev.At, Details: details}); err != nil {
			return err
		}
	}
	outcome := audit.OutcomeSuccess
	if ev.Kind == "passcode_failed" || ev.Kind == "refused" {
		outcome = audit.OutcomeDenied
	}
	_, err := audit.Record(ctx, tx, audit.Entry{Time: ev.At, Component: "release", EventType: AuditShare, Actor: actor,
		Outcome: outcome, SourceAddr: ev.Address, Details: details})
	return err
}

// DownloadBusyError refuses a new download because the link's remaining
// downloads are taken by downloads in progress (409): it frees up when
// they complete or stay idle for the session window.
type DownloadBusyError struct {
	Completed, Active, Max int
	Window                 time.Duration
}

func (e *DownloadBusyError) Error() string {
	return fmt.Sprintf("this link allows %d downloads: %d completed and %d in progress; a new one can start when those finish or after %s without activity",
		e.Max, e.Completed, e.Active, e.Window)
}

// Unwrap gives the kind.
func (e *DownloadBusyError) Unwrap() error { return evidence.ErrConflict }

// admitDownload decides whether a request for a file (the package or a
// payload path) may be served. A file has a download in progress when it
// was admitted and had activity within the session window: every request
// for it continues that download, whatever its range, even after the
// limit. Any other request starts a new download, admitted only while the
// completed downloads and those in progress of the link's other files
// stay under its limit (so parallel starts cannot overshoot it). started
// reports a new download. Bytes served by an earlier download of the file
// that went idle before covering it are kept: they count toward the next.
func (s *Service) admitDownload(ctx context.Context, sh *Share, file string, size int64) (started bool, err error) {
	now := s.now()
	window := s.settings.ShareSessionWindow
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var downloads int
		var limit *int
		if err := tx.QueryRow(ctx, `SELECT downloads, max_downloads FROM release_shares WHERE id = $1 FOR UPDATE`, sh.ID).Scan(&downloads, &limit); err != nil {
			return err
		}
		var startedAt, lastAt *time.Time
		err := tx.QueryRow(ctx, `SELECT started_at, last_at FROM release_share_downloads WHERE share_id = $1 AND file = $2`, sh.ID, file).Scan(&startedAt, &lastAt)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if startedAt != nil && lastAt != nil && !lastAt.Before(now.Add(-window)) {
			_, err = tx.Exec(ctx, `UPDATE release_share_downloads SET last_at = $3 WHERE share_id = $1 AND file = $2`, sh.ID, file, now)
			return err
		}
		if limit != nil {
			var active int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM release_share_downloads
				WHERE share_id = $1 AND file <> $2 AND started_at IS NOT NULL AND last_at >= $3`, sh.ID, file, now.Add(-window)).Scan(&active); err != nil {
				return err
			}
			if downloads >= *limit {
				return &ShareGoneError{Status: ShareExhausted}
			}
			if downloads+active >= *limit {
				return &DownloadBusyError{Completed: downloads, Active: active, Max: *limit, Window: window}
			}
		}
		started = true
		_, err = tx.Exec(ctx, `INSERT INTO release_share_downloads (share_id, file, size, started_at, last_at) VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (share_id, file) DO UPDATE SET size = $3, started_at = $4, last_at = $4, bytes_sent = 0, requests = 0`,
			sh.ID, file, size, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("share %s: download %s: %w", sh.ID, file, err)
	}
	return started, nil
}

// served is what one response sent of a file: from offset start, bytes
// long (bytes of the file only, never of an error message).
type served struct {
	start, bytes int64
	started      bool // the request opened a new download
}

// finishDownload adds the bytes one response sent to the file's current
// download and records the request (the link's events and the audit log
// always; the timeline when it started a download). When the bytes served
// so far cover the whole file the download is counted against the link's
// limit and recorded once as download_completed: in the link's events, the
// audit log, the timeline and the custody of every source item.
func (s *Service) finishDownload(ctx context.Context, sh *Share, rel *Release, file string, sv served, ev ShareEvent) error {
	ev.At, ev.Kind = s.now(), "download"
	return s.inRequest(ctx, sh, rel, func(tx pgx.Tx, requestID uuid.UUID, sources []uuid.UUID) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM release_shares WHERE id = $1 FOR UPDATE`, sh.ID); err != nil {
			return err
		}
		var complete bool
		var sent int64
		var requests int
		var startedAt time.Time
		err := tx.QueryRow(ctx, `UPDATE release_share_downloads SET covered = covered + int8multirange(int8range($3, $4)),
				bytes_sent = bytes_sent + $5, requests = requests + 1, last_at = $6
			WHERE share_id = $1 AND file = $2
			RETURNING covered @> int8range(0, size), bytes_sent, requests, coalesce(started_at, $6)`,
			sh.ID, file, sv.start, sv.start+sv.bytes, sv.bytes, ev.At).Scan(&complete, &sent, &requests, &startedAt)
		if err != nil {
			return fmt.Errorf("count download: %w", err)
		}
		if complete {
			if _, err := tx.Exec(ctx, `UPDATE release_share_downloads SET covered = '{}', bytes_sent = 0, requests = 0,
					started_at = NULL, completed = completed + 1 WHERE share_id = $1 AND file = $2`, sh.ID, file); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE release_shares SET downloads = downloads + 1 WHERE id = $1`, sh.ID); err != nil {
				return err
			}
		}
		// The timeline shows each download once or twice (started, then
		// completed), not every range a player or download manager asks.
		if err := s.recordInTx(ctx, tx, sh, requestID, nil, ev, sv.started && !complete); err != nil {
			return err
		}
		if !complete {
			return nil
		}
		done := ShareEvent{At: ev.At, Kind: "download_completed", File: ev.File, Bytes: sent, Complete: true,
			Address: ev.Address, Agent: ev.Agent,
			Detail: fmt.Sprintf("whole file served in %d request(s) since %s", requests, startedAt.UTC().Format(time.RFC3339))}
		return s.recordInTx(ctx, tx, sh, requestID, sources, done, true)
	})
}

// entry is one file's bytes inside the stored package (entries are
// stored, not compressed).
type entry struct {
	offset, size int64
}

// payloadEntry finds a payload file inside the package by reading the
// ZIP's central directory with range reads.
func (s *Service) payloadEntry(ctx context.Context, rel *Release, ref storage.Ref, path string) (entry, error) {
	known := false
	for _, f := range rel.Files {
		if f.Path == path {
			known = true
		}
	}
	if !known {
		return entry{}, evidence.NotFound("file")
	}
	zr, err := zip.NewReader(&storeReaderAt{ctx: ctx, store: s.store, ref: ref}, rel.PackageSize)
	if err != nil {
		return entry{}, fmt.Errorf("read package %s: %w", rel.ID, err)
	}
	want := strings.TrimSuffix(rel.PackageName, ".zip") + "/" + path
	for _, f := range zr.File {
		if f.Name != want {
			continue
		}
		if f.Method != zip.Store {
			return entry{}, fmt.Errorf("package %s: %s is compressed", rel.ID, path)
		}
		off, err := f.DataOffset()
		if err != nil {
			return entry{}, err
		}
		return entry{offset: off, size: int64(f.UncompressedSize64)}, nil
	}
	return entry{}, evidence.NotFound("file")
}

// storeReaderAt reads an object with one range read per call.
type storeReaderAt struct {
	ctx   context.Context
	store storage.Store
	ref   storage.Ref
}

func (r *storeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.store.Open(r.ctx, r.ref, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.ReadFull(rc, p)
}

// sectionReader is an io.ReadSeeker over part of an object: a payload
// file inside the package, served with Range by http.ServeContent.
type sectionReader struct {
	ctx       context.Context
	store     storage.Store
	ref       storage.Ref
	base, n   int64
	off       int64
	rc        io.ReadCloser
	rcAtStart int64
}

func (r *sectionReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if r.rc == nil {
		rc, err := r.store.Open(r.ctx, r.ref, r.base+r.off, r.n-r.off)
		if err != nil {
			return 0, err
		}
		r.rc = rc
	}
	if int64(len(p)) > r.n-r.off {
		p = p[:r.n-r.off]
	}
	k, err := r.rc.Read(p)
	r.off += int64(k)
	if err == io.EOF && r.off < r.n {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

func (r *sectionReader) Seek(offset int64, whence int) (int64, error) {
	abs := offset
	switch whence {
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.n + offset
	}
	if abs < 0 {
		return r.off, errors.New("release: seek before start")
	}
	if abs != r.off && r.rc != nil {
		r.rc.Close()
		r.rc = nil
	}
	r.off = abs
	return abs, nil
}

func (r *sectionReader) Close() error {
	if r.rc != nil {
		return r.rc.Close()
	}
	return nil
}
