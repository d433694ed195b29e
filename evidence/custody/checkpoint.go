package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/storage"
)

// CheckpointRetention is how long checkpoint objects are locked in
// storage. Checkpoints are small and prove the history of evidence that
// may be kept for decades, so they are locked for long.
const CheckpointRetention = 25 * 365 * 24 * time.Hour

// checkpointLock serializes checkpoint creation across servers (an
// advisory lock id private to this package).
const checkpointLock = 0x0DE5C057

// CheckpointObject is the JSON document stored in storage.Checkpoints: the
// signed checkpoint and all its leaves, so that it can be checked against
// a backup of the database or on its own.
type CheckpointObject struct {
	Format    string     `json:"format"` // "opendems-custody-checkpoint"
	Version   int        `json:"version"`
	ID        int64      `json:"id"`
	Time      string     `json:"time"`
	TreeSize  int64      `json:"tree_size"`
	Root      chain.Hash `json:"root"`
	PublicKey string     `json:"public_key"` // base64
	Signature string     `json:"signature"`  // base64
	Message   string     `json:"signed_message"`
	Leaves    string     `json:"leaves"` // base64 of chain.EncodeLeaves
}

// Checkpoint signs a Merkle root over every chain head (sorted by evidence
// id) with signer, stores it in custody_checkpoints and as an object in
// storage.Checkpoints (retained for CheckpointRetention where the backend
// locks objects), and returns it. If no head moved since the latest
// checkpoint it returns that one unchanged: signing the same root again
// proves nothing new. Concurrent calls are serialized.
func Checkpoint(ctx context.Context, db DB, store storage.Store, signer ed25519.PrivateKey) (chain.Checkpoint, error) {
	if len(signer) != ed25519.PrivateKeySize {
		return chain.Checkpoint{}, fmt.Errorf("custody checkpoint: %w", ErrNoSigner)
	}
	var out chain.Checkpoint
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, checkpointLock); err != nil {
			return err
		}
		leaves, err := readHeads(ctx, tx)
		if err != nil {
			return err
		}
		root := chain.MerkleRoot(leafHashes(leaves))
		var last chain.Checkpoint
		var lastRoot, lastPub, lastSig []byte
		err = tx.QueryRow(ctx, `SELECT id, created_at, tree_size, root, public_key, signature
			FROM custody_checkpoints ORDER BY id DESC LIMIT 1`).Scan(&last.ID, &last.Time, &last.TreeSize, &lastRoot, &lastPub, &lastSig)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case bytes.Equal(lastRoot, root[:]) && last.TreeSize == int64(len(leaves)) &&
			bytes.Equal(lastPub, signer.Public().(ed25519.PublicKey)):
			last.Root = root
			last.Time = last.Time.UTC()
			last.PublicKey, last.Signature = lastPub, lastSig
			out = last
			return nil
		}
		c := chain.Checkpoint{Time: time.Now(), TreeSize: int64(len(leaves)), Root: root}
		if err := tx.QueryRow(ctx, `SELECT nextval('custody_checkpoint_id')`).Scan(&c.ID); err != nil {
			return err
		}
		c.Sign(signer)
		leafBytes := chain.EncodeLeaves(leaves)
		doc, err := json.Marshal(CheckpointObject{Format: "opendems-custody-checkpoint", Version: 1,
			ID: c.ID, Time: chain.FormatTime(c.Time), TreeSize: c.TreeSize, Root: c.Root,
			PublicKey: base64.StdEncoding.EncodeToString(c.PublicKey),
			Signature: base64.StdEncoding.EncodeToString(c.Signature),
			Message:   string(c.CheckpointMessage()), Leaves: base64.StdEncoding.EncodeToString(leafBytes)})
		if err != nil {
			return err
		}
		digest := storage.Digest(sha256.Sum256(doc))
		ref := storage.Ref{Namespace: storage.Checkpoints, Digest: digest}
		retain := c.Time.Add(CheckpointRetention)
		if _, err := store.Put(ctx, ref, int64(len(doc)), bytes.NewReader(doc),
			storage.PutOptions{RetainUntil: retain, ContentType: "application/json"}); err != nil {
			return fmt.Errorf("store object: %w", err)
		}
		backend := "unknown"
		if n, ok := store.(interface{ Name() string }); ok {
			backend = n.Name()
		}
		if _, err := tx.Exec(ctx, `INSERT INTO objects (namespace, sha256, size, backend, content_type, retain_until)
			VALUES ($1, $2, $3, $4, 'application/json', $5) ON CONFLICT DO NOTHING`,
			string(storage.Checkpoints), digest[:], len(doc), backend, retain); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO custody_checkpoints
			(id, created_at, tree_size, root, public_key, signature, leaves, object_sha256)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			c.ID, c.Time, c.TreeSize, c.Root[:], []byte(c.PublicKey), c.Signature, leafBytes, digest[:]); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return chain.Checkpoint{}, fmt.Errorf("custody checkpoint: %w", err)
	}
	return out, nil
}

// readHeads returns every non-empty chain head, sorted by evidence id
// (PostgreSQL orders uuid bytewise, as chain.ParseLeaves expects).
func readHeads(ctx context.Context, q Querier) ([]chain.Leaf, error) {
	rows, err := q.Query(ctx, `SELECT evidence_id, seq, hash FROM custody_heads WHERE seq > 0 ORDER BY evidence_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []chain.Leaf
	for rows.Next() {
		var l chain.Leaf
		var h []byte
		if err := rows.Scan(&l.EvidenceID, &l.Seq, &h); err != nil {
			return nil, err
		}
		if l.Hash, err = chain.HashFromBytes(h); err != nil {
			return nil, fmt.Errorf("head of %s: %w", l.EvidenceID, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// checkpointProofs returns, for each id in ids that c covers, its proof.
func checkpointProofs(c *storedCheckpoint, ids []uuid.UUID) []chain.ExportProof {
	index := make(map[uuid.UUID]int, len(c.leaves))
	for i, l := range c.leaves {
		index[l.EvidenceID] = i
	}
	var tree *chain.Tree
	var out []chain.ExportProof
	for _, id := range ids {
		i, ok := index[id]
		if !ok {
			continue
		}
		if tree == nil {
			tree = chain.NewTree(leafHashes(c.leaves))
		}
		path, _ := tree.Proof(i)
		l := c.leaves[i]
		out = append(out, chain.ExportProof{EvidenceID: id, Seq: l.Seq, Hash: l.Hash, LeafIndex: int64(i), Path: path})
	}
	return out
}
