package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

// Officer is the officer a recording is attributed to (metadata
// officer_id), as far as the accounts know it.
type Officer struct {
	Badge    string
	Known    bool   // an active account has this badge
	UnitPath string // that account's unit
}

// UploadPolicy decides what an upload may claim and learn beyond the
// route's own evidence:upload decision (made by the enforcement point):
//
//   - CanAttribute: whether p may attribute a recording to officer, and on
//     what basis (recorded in the ingested custody event);
//   - CanViewItem: whether p may see an existing item. Declaring a hash an
//     item already holds reveals that item (id, size, receipt) and adds to
//     its chain of custody only for a caller who may see it or who uploaded
//     it; anyone else uploads the bytes like new ones and learns of the
//     duplicate only at commit, having proved they hold the bytes.
//
// Config.Policy nil accepts every attribution ("unchecked") and reveals
// every duplicate, as tests and embedders without a policy expect; demsd
// always sets it.
type UploadPolicy interface {
	CanAttribute(ctx context.Context, p identity.Principal, officer Officer) (basis string, err error)
	CanViewItem(ctx context.Context, p identity.Principal, id uuid.UUID) bool
}

// officerSQL finds the active account of a badge (its unit).
const officerSQL = `SELECT n.path FROM users u JOIN units n ON n.id = u.unit_id
	WHERE u.badge = $1 AND u.disabled_at IS NULL ORDER BY u.created_at LIMIT 1`

// attribution checks metadata.officer_id, looked up as o (createLookups),
// against the policy and returns the basis to record.
func (s *Service) attribution(ctx context.Context, p identity.Principal, o Officer) (string, error) {
	at := s.cfg.Policy
	if at == nil {
		return "unchecked", nil
	}
	basis, err := at.CanAttribute(ctx, p, o)
	if err != nil {
		return "", apiErr(wire.CodeForbidden, "%s may not attribute a recording to officer %q: %v", p.Actor(), o.Badge, err)
	}
	return basis, nil
}

// createLookups is what a create reads before it decides: the officer
// named, an item already holding the bytes, the caller's live session for
// them. They are fetched in one round trip (a pgx batch): a create is then
// three round trips with authentication, whatever the path.
type createLookups struct {
	officer Officer
	item    *item
	live    *session
}

func (s *Service) lookup(ctx context.Context, p identity.Principal, digest storage.Digest, badge string) (createLookups, error) {
	l := createLookups{officer: Officer{Badge: badge}}
	b := &pgx.Batch{}
	if badge != "" && s.cfg.Policy != nil {
		b.Queue(officerSQL, badge).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&l.officer.UnitPath)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			l.officer.Known = err == nil
			return err
		})
	}
	b.Queue(itemBySHASQL, digest[:]).QueryRow(func(row pgx.Row) error {
		it, err := scanItem(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		l.item = &it
		return err
	})
	b.Queue(liveSessionSQL, p.ID, digest[:]).QueryRow(func(row pgx.Row) error {
		ss, err := scanSession(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		l.live = ss
		return err
	})
	if err := s.cfg.Pool.SendBatch(ctx, b).Close(); err != nil {
		return l, fmt.Errorf("ingest: create: look up: %w", err)
	}
	return l, nil
}

// mayKnowOf reports whether p may learn that item id exists before
// uploading its bytes.
func (s *Service) mayKnowOf(ctx context.Context, p identity.Principal, id uuid.UUID) (bool, error) {
	iv := s.cfg.Policy
	if iv == nil {
		return true, nil
	}
	var mine bool
	if err := s.cfg.Pool.QueryRow(ctx, `SELECT dock_id IS NOT DISTINCT FROM $2 OR uploaded_by IS NOT DISTINCT FROM $2
		FROM evidence_items WHERE id = $1`, id, p.ID).Scan(&mine); err != nil {
		return false, fmt.Errorf("ingest: duplicate visibility: %w", err)
	}
	return mine || iv.CanViewItem(ctx, p, id), nil
}
