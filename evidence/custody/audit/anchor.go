package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody/chain"
)

// anchorLock serializes anchor creation across servers (an advisory lock
// id private to this package).
const anchorLock = 0x0DE5A0C4

// Anchor is a signed statement "the audit chain had record seq with hash
// hash at time". Because every record's hash commits to all records
// before it, an anchor proves the whole log up to seq: a database
// superuser who deletes or rewrites anchored records (triggers disabled)
// cannot make Verify pass again without the signing key. Records after the
// latest anchor are the unsigned tail, reported as such.
type Anchor struct {
	ID        int64             `json:"id"`
	Time      time.Time         `json:"time"`
	Seq       int64             `json:"seq"`
	Hash      chain.Hash        `json:"hash"`
	PublicKey ed25519.PublicKey `json:"public_key"`
	Signature []byte            `json:"signature"`
}

// Message returns the exact bytes signed: short text a person can read.
func (a Anchor) Message() []byte {
	var b strings.Builder
	b.WriteString("opendems audit anchor v1\n")
	b.WriteString("id " + strconv.FormatInt(a.ID, 10) + "\n")
	b.WriteString("time " + chain.FormatTime(a.Time) + "\n")
	b.WriteString("seq " + strconv.FormatInt(a.Seq, 10) + "\n")
	b.WriteString("hash " + a.Hash.String() + "\n")
	return []byte(b.String())
}

// VerifySignature checks the signature with the anchor's own key and,
// when trusted is not nil, that this key is the trusted one.
func (a Anchor) VerifySignature(trusted ed25519.PublicKey) error {
	if len(a.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("audit anchor %d: %w", a.ID, chain.ErrBadPublicKey)
	}
	if trusted != nil && !trusted.Equal(a.PublicKey) {
		return fmt.Errorf("audit anchor %d: %w (key %s)", a.ID, chain.ErrUntrustedKey, chain.KeyID(a.PublicKey))
	}
	if !ed25519.Verify(a.PublicKey, a.Message(), a.Signature) {
		return fmt.Errorf("audit anchor %d: %w", a.ID, chain.ErrBadSignature)
	}
	return nil
}

// SignAnchor signs the current head of the audit chain with signer and
// stores the anchor. When the head has not moved since the latest anchor
// (or the log is empty) it returns that anchor (zero for an empty log)
// and created false: signing the same head again proves nothing new, so
// running it every few seconds costs one read when nothing happened.
func SignAnchor(ctx context.Context, q Querier, signer ed25519.PrivateKey) (a Anchor, created bool, err error) {
	if len(signer) != ed25519.PrivateKeySize {
		return Anchor{}, false, errors.New("audit anchor: no signing key")
	}
	err = pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, anchorLock); err != nil {
			return err
		}
		var headSeq int64
		var head []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id`).Scan(&headSeq, &head); err != nil {
			return err
		}
		if headSeq == 0 {
			return nil
		}
		headHash, err := chain.HashFromBytes(head)
		if err != nil {
			return err
		}
		last, err := latestAnchor(ctx, tx)
		if err != nil {
			return err
		}
		pub := signer.Public().(ed25519.PublicKey)
		if last != nil && last.Seq == headSeq && last.Hash == headHash && bytes.Equal(last.PublicKey, pub) {
			a = *last
			return nil
		}
		a = Anchor{Time: chain.CanonicalTime(time.Now()), Seq: headSeq, Hash: headHash, PublicKey: pub}
		if err := tx.QueryRow(ctx, `SELECT nextval('audit_anchor_id')`).Scan(&a.ID); err != nil {
			return err
		}
		a.Signature = ed25519.Sign(signer, a.Message())
		if _, err := tx.Exec(ctx, `INSERT INTO audit_anchors (id, created_at, seq, hash, public_key, signature)
			VALUES ($1, $2, $3, $4, $5, $6)`, a.ID, a.Time, a.Seq, a.Hash[:], []byte(a.PublicKey), a.Signature); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return Anchor{}, false, fmt.Errorf("audit anchor: %w", err)
	}
	return a, created, nil
}

// LatestAnchor returns the newest stored anchor, or nil when there is none.
func LatestAnchor(ctx context.Context, q Querier) (*Anchor, error) {
	a, err := latestAnchor(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("audit latest anchor: %w", err)
	}
	return a, nil
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func latestAnchor(ctx context.Context, q rowQuerier) (*Anchor, error) {
	var a Anchor
	var hash, pub []byte
	err := q.QueryRow(ctx, `SELECT id, created_at, seq, hash, public_key, signature
		FROM audit_anchors ORDER BY id DESC LIMIT 1`).Scan(&a.ID, &a.Time, &a.Seq, &hash, &pub, &a.Signature)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.Time = a.Time.UTC()
	a.Hash, _ = chain.HashFromBytes(hash)
	a.PublicKey = ed25519.PublicKey(pub)
	return &a, nil
}

// scanAnchors streams every anchor in id order.
func scanAnchors(ctx context.Context, q Querier, fn func(*Anchor)) error {
	rows, err := q.Query(ctx, `SELECT id, created_at, seq, hash, public_key, signature FROM audit_anchors ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a Anchor
		var hash, pub []byte
		if err := rows.Scan(&a.ID, &a.Time, &a.Seq, &hash, &pub, &a.Signature); err != nil {
			return err
		}
		a.Time = a.Time.UTC()
		a.Hash, _ = chain.HashFromBytes(hash)
		a.PublicKey = ed25519.PublicKey(pub)
		fn(&a)
	}
	return rows.Err()
}
