package dock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"go.etcd.io/bbolt"

	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

// State is where a file is in its way from camera to evidence.
type State string

// File states, in order. Only released and quarantined are final.
const (
	// Discovered: the file is complete on disk and queued.
	StateDiscovered State = "discovered"
	// Hashed: its SHA-256, size and metadata are recorded.
	StateHashed State = "hashed"
	// Uploading: a server session exists; Offset is the server's durable
	// offset as last acknowledged.
	StateUploading State = "uploading"
	// Verified: the server's receipt is recorded and its signature and
	// hash checked against the pinned key and the file. Only now may the
	// file leave the camera storage.
	StateVerified State = "verified"
	// Released: moved to the released folder or deleted, per config.
	StateReleased State = "released"
	// Quarantined: moved to the quarantine folder after repeated permanent
	// failures; never deleted by the agent.
	StateQuarantined State = "quarantined"
	// Vanished: the file disappeared before it was uploaded (removed by
	// someone else); reported, nothing to do.
	StateVanished State = "vanished"
)

// Entry is the journal's record of one file.
type Entry struct {
	Path       string           `json:"path"`
	Root       string           `json:"root"` // the watched directory it was found in
	Size       int64            `json:"size"`
	ModTime    time.Time        `json:"mtime"`
	Sidecar    string           `json:"sidecar,omitempty"`
	State      State            `json:"state"`
	SHA256     string           `json:"sha256,omitempty"`
	Metadata   *wire.Metadata   `json:"metadata,omitempty"`
	SessionID  string           `json:"session_id,omitempty"`
	Offset     int64            `json:"offset"`
	EvidenceID string           `json:"evidence_id,omitempty"`
	Receipt    *receipt.Receipt `json:"receipt,omitempty"`
	// Attempts counts failed attempts of any kind since the last success;
	// PermanentFailures those the server blamed on the content.
	Attempts          int       `json:"attempts"`
	PermanentFailures int       `json:"permanent_failures"`
	LastError         string    `json:"last_error,omitempty"`
	LastErrorKind     string    `json:"last_error_kind,omitempty"`
	NextAttempt       time.Time `json:"next_attempt,omitzero"`
	DiscoveredAt      time.Time `json:"discovered_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// MovedTo is where the file went (released or quarantined), if moved.
	MovedTo string `json:"moved_to,omitempty"`
}

// Final reports whether nothing more will be done with the file.
func (e *Entry) Final() bool {
	return e.State == StateReleased || e.State == StateQuarantined || e.State == StateVanished
}

// Buckets: queue holds path → Entry for every file not yet final; done
// holds time|path → Entry of final files (history for status).
const (
	bucketQueue = "queue"
	bucketDone  = "done"
)

// ErrNoEntry is returned for a path the journal does not hold.
var ErrNoEntry = errors.New("no journal entry")

// Journal is the crash-safe record of every file (bbolt: each update is
// one fsync'd transaction, so a state change is durable before the action
// that depends on it is taken). One process opens it at a time.
type Journal struct {
	db  *bbolt.DB
	now func() time.Time
}

// OpenJournal opens (creating) the journal at path. readOnly opens it
// shared, for status, and fails after timeout if a daemon holds it.
func OpenJournal(path string, readOnly bool, timeout time.Duration) (*Journal, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("dock: journal %s: %w", path, err)
	}
	if !readOnly {
		err = db.Update(func(tx *bbolt.Tx) error {
			for _, b := range [][]byte{[]byte(bucketQueue), []byte(bucketDone)} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("dock: journal %s: %w", path, err)
		}
	}
	return &Journal{db: db, now: time.Now}, nil
}

// Close closes the journal.
func (j *Journal) Close() error { return j.db.Close() }

// Get returns the queued entry for path, or ErrNoEntry.
func (j *Journal) Get(path string) (Entry, error) {
	var e Entry
	err := j.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketQueue))
		if b == nil {
			return ErrNoEntry
		}
		v := b.Get([]byte(path))
		if v == nil {
			return ErrNoEntry
		}
		return json.Unmarshal(v, &e)
	})
	return e, err
}

// Add queues a newly discovered file unless the path is already queued.
// It reports whether it added.
func (j *Journal) Add(e Entry) (bool, error) {
	added := false
	err := j.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketQueue))
		if b.Get([]byte(e.Path)) != nil {
			return nil
		}
		// A scan may list a file just before the daemon releases (moves or
		// deletes) it; by the time the scan reaches Add the entry is in the
		// history. Checked inside the write transaction, which the release's
		// journal update also needs, so a file gone now was never a new one.
		if _, err := os.Stat(e.Path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		now := j.now().UTC()
		e.State, e.DiscoveredAt, e.UpdatedAt = StateDiscovered, now, now
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		added = true
		return b.Put([]byte(e.Path), v)
	})
	if err != nil {
		return false, fmt.Errorf("dock: journal add %s: %w", e.Path, err)
	}
	return added, nil
}

// Update applies fn to the entry for path in one durable transaction. An
// entry that fn leaves final moves to the history bucket.
func (j *Journal) Update(path string, fn func(*Entry) error) (Entry, error) {
	var e Entry
	err := j.db.Update(func(tx *bbolt.Tx) error {
		q := tx.Bucket([]byte(bucketQueue))
		v := q.Get([]byte(path))
		if v == nil {
			return ErrNoEntry
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
		e.UpdatedAt = j.now().UTC()
		nv, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if e.Final() {
			if err := q.Delete([]byte(path)); err != nil {
				return err
			}
			key := []byte(e.UpdatedAt.Format(time.RFC3339Nano) + "|" + path)
			return tx.Bucket([]byte(bucketDone)).Put(key, nv)
		}
		return q.Put([]byte(path), nv)
	})
	if err != nil {
		return e, fmt.Errorf("dock: journal update %s: %w", path, err)
	}
	return e, nil
}

// Queue returns every entry not yet final.
func (j *Journal) Queue() ([]Entry, error) { return j.list(bucketQueue, 0) }

// History returns up to n final entries, most recent first.
func (j *Journal) History(n int) ([]Entry, error) { return j.list(bucketDone, n) }

func (j *Journal) list(bucket string, n int) ([]Entry, error) {
	var out []Entry
	err := j.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		next, k, v := c.Next, []byte(nil), []byte(nil)
		if n > 0 {
			k, v = c.Last()
			next = c.Prev
		} else {
			k, v = c.First()
		}
		for ; k != nil; k, v = next() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %q: %w", k, err)
			}
			out = append(out, e)
			if n > 0 && len(out) >= n {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dock: journal: %w", err)
	}
	return out, nil
}
