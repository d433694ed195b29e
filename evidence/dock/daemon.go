package dock

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opendems/opendems/evidence/ingest/receipt"
)

// Daemon is `dems-dock run`: it watches, journals, uploads, verifies and
// releases. Create it with NewDaemon and call Run.
type Daemon struct {
	cfg      Config
	journal  *Journal
	uploader *Uploader
	watcher  *Watcher
	logger   *slog.Logger
	now      func() time.Time
	// StatusPath, if set, receives a JSON snapshot of the queue after each
	// round, for `dems-dock status` while the daemon holds the journal.
	StatusPath string

	mu       sync.Mutex
	inflight map[string]bool
}

// NewDaemon wires a daemon. up carries the client and pinned key (and a
// rate limiter; nil: one is made from cfg.Bandwidth); its Backoff and MaxTransient bound the retries within one
// attempt, the journal's NextAttempt the retries between attempts.
func NewDaemon(cfg Config, j *Journal, up *Uploader, logger *slog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(up.Key) != ed25519.PublicKeySize {
		return nil, errors.New("dock: daemon: no pinned receipt key (run dems-dock enroll)")
	}
	if logger == nil {
		logger = slog.Default()
	}
	if up.Limiter == nil {
		rate, err := ParseRate(cfg.Bandwidth)
		if err != nil {
			return nil, fmt.Errorf("dock config: bandwidth: %w", err)
		}
		up.Limiter = NewRateLimiter(rate)
	}
	skip := []string{cfg.ReleasedDir, cfg.QuarantineDir, cfg.StateDir}
	return &Daemon{
		cfg: cfg, journal: j, uploader: up, logger: logger, now: time.Now,
		watcher:  &Watcher{Dirs: cfg.Watch, StableFor: cfg.StableFor, Skip: skip},
		inflight: map[string]bool{},
	}, nil
}

// Run works until ctx ends. Files in flight when it ends stay in the
// journal in their state and continue at the next Run.
func (d *Daemon) Run(ctx context.Context) error {
	work := make(chan string)
	var wg sync.WaitGroup
	for range d.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				d.process(ctx, p)
				d.mu.Lock()
				delete(d.inflight, p)
				d.mu.Unlock()
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
		d.writeStatus()
	}()
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	for {
		d.Scan()
		d.dispatch(ctx, work)
		d.writeStatus()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Scan adds the complete files the watcher finds to the journal.
func (d *Daemon) Scan() {
	cands, err := d.watcher.Scan(d.now())
	if err != nil {
		d.logger.Warn("dock: scan", "err", err)
	}
	for _, c := range cands {
		added, err := d.journal.Add(Entry{Path: c.Path, Root: c.Root.Path, Size: c.Size, ModTime: c.ModTime, Sidecar: c.Sidecar})
		if err != nil {
			d.logger.Error("dock: journal", "err", err)
			continue
		}
		if added {
			d.logger.Info("dock: discovered", "file", c.Path, "size", c.Size)
		}
	}
}

// dispatch hands due entries to idle workers without blocking the loop.
func (d *Daemon) dispatch(ctx context.Context, work chan<- string) {
	q, err := d.journal.Queue()
	if err != nil {
		d.logger.Error("dock: journal", "err", err)
		return
	}
	now := d.now()
	for _, e := range q {
		if e.NextAttempt.After(now) {
			continue
		}
		d.mu.Lock()
		busy := d.inflight[e.Path] || len(d.inflight) >= d.cfg.Concurrency
		if !busy {
			d.inflight[e.Path] = true
		}
		d.mu.Unlock()
		if busy {
			continue
		}
		select {
		case work <- e.Path:
		case <-ctx.Done():
			return
		}
	}
}

// process moves one file as far as it can go now.
func (d *Daemon) process(ctx context.Context, path string) {
	for ctx.Err() == nil {
		e, err := d.journal.Get(path)
		if err != nil {
			return // released meanwhile
		}
		var next error
		switch e.State {
		case StateDiscovered:
			next = d.hash(ctx, e)
		case StateHashed, StateUploading:
			next = d.upload(ctx, e)
		case StateVerified:
			next = d.release(e)
		default:
			return
		}
		if next != nil {
			if !errors.Is(next, errWait) {
				d.logger.Warn("dock: file", "file", path, "state", e.State, "err", next)
			}
			return
		}
	}
}

// errWait ends a round for a file without it being a failure.
var errWait = errors.New("wait")

// failed records a failed attempt and schedules the next.
func (d *Daemon) failed(e Entry, kind Kind, err error) error {
	if errors.Is(err, context.Canceled) {
		return err // shutting down: not the file's fault
	}
	_, jerr := d.journal.Update(e.Path, func(x *Entry) error {
		x.Attempts++
		x.LastError, x.LastErrorKind = err.Error(), kind.String()
		delay := Backoff{Initial: d.cfg.RetryInitial, Max: d.cfg.RetryMax}.Delay(x.Attempts - 1)
		if kind == Auth {
			delay = d.cfg.RetryMax
		}
		x.NextAttempt = d.now().Add(delay)
		if kind == Permanent {
			x.PermanentFailures++
			x.State, x.SessionID, x.Offset = StateDiscovered, "", 0 // re-hash and start over
		}
		return nil
	})
	if jerr != nil {
		return errors.Join(err, jerr)
	}
	if kind == Permanent {
		if cur, gerr := d.journal.Get(e.Path); gerr == nil && cur.PermanentFailures >= d.cfg.MaxPermanentFailures {
			return errors.Join(err, d.quarantine(cur))
		}
	}
	return err
}

// unchanged reports whether the file is still what the journal describes.
func unchanged(e Entry) (bool, error) {
	st, err := os.Stat(e.Path)
	if err != nil {
		return false, err
	}
	return st.Size() == e.Size && st.ModTime().Equal(e.ModTime), nil
}

func (d *Daemon) hash(ctx context.Context, e Entry) error {
	st, err := os.Stat(e.Path)
	if errors.Is(err, fs.ErrNotExist) {
		_, jerr := d.journal.Update(e.Path, func(x *Entry) error {
			x.State, x.LastError = StateVanished, "file disappeared before it was uploaded"
			return nil
		})
		d.logger.Warn("dock: file vanished before upload", "file", e.Path)
		return errors.Join(errWait, jerr)
	}
	if err != nil {
		return d.failed(e, Transient, err)
	}
	if st.Size() != e.Size || !st.ModTime().Equal(e.ModTime) {
		// Still being written: wait until it is stable again.
		_, jerr := d.journal.Update(e.Path, func(x *Entry) error {
			x.Size, x.ModTime, x.NextAttempt = st.Size(), st.ModTime(), d.now().Add(d.cfg.StableFor)
			return nil
		})
		return errors.Join(errWait, jerr)
	}
	root := WatchDir{Path: e.Root}
	for _, w := range d.cfg.Watch {
		if w.Path == e.Root {
			root = w
		}
	}
	side := e.Sidecar
	if side == "" {
		side = sidecarFor(e.Path)
	}
	meta, err := ResolveMetadataContext(ctx, Candidate{Path: e.Path, Root: root, Size: e.Size, ModTime: e.ModTime, Sidecar: side}, d.cfg.Defaults)
	if err != nil {
		return d.failed(e, Transient, err)
	}
	h, err := HashFile(ctx, e.Path, nil)
	if err != nil {
		return d.failed(e, Transient, err)
	}
	if h.Size != e.Size {
		return d.failed(e, Transient, fmt.Errorf("file changed while hashing"))
	}
	_, err = d.journal.Update(e.Path, func(x *Entry) error {
		x.SHA256, x.Metadata, x.Sidecar, x.State = h.SHA256, &meta, side, StateHashed
		return nil
	})
	return err
}

func (d *Daemon) upload(ctx context.Context, e Entry) error {
	if ok, err := unchanged(e); err != nil || !ok {
		if err == nil {
			err = errFileChanged
		}
		return d.failed(e, Permanent, fmt.Errorf("before upload: %w", err))
	}
	up := Upload{Path: e.Path, Hash: Hash{SHA256: e.SHA256, Size: e.Size}, Durable: func(sid string, off int64) {
		if _, err := d.journal.Update(e.Path, func(x *Entry) error {
			x.State, x.SessionID, x.Offset = StateUploading, sid, off
			return nil
		}); err != nil {
			d.logger.Error("dock: journal", "err", err)
		}
	}}
	if e.Metadata != nil {
		up.Metadata = *e.Metadata
	}
	res, err := d.uploader.Upload(ctx, up)
	if err != nil {
		return d.failed(e, Classify(err), err)
	}
	// The receipt is verified (signature, hash, size): record it before
	// anything touches the file.
	_, err = d.journal.Update(e.Path, func(x *Entry) error {
		x.State, x.EvidenceID, x.Receipt, x.Offset = StateVerified, res.EvidenceID, &res.Receipt, res.Size
		x.Attempts, x.LastError, x.LastErrorKind = 0, "", ""
		return nil
	})
	if err == nil {
		d.logger.Info("dock: verified", "file", e.Path, "evidence_id", res.EvidenceID, "duplicate", res.Duplicate)
	}
	return err
}

// release moves or deletes a verified file. It re-checks the receipt
// against the pinned key and the file before touching it.
func (d *Daemon) release(e Entry) error {
	if e.Receipt == nil {
		return d.failed(e, Permanent, errors.New("verified without a receipt"))
	}
	if err := receipt.VerifyFor(d.uploader.Key, *e.Receipt, e.SHA256, e.Size); err != nil {
		return d.failed(e, Permanent, err)
	}
	ok, err := unchanged(e)
	if errors.Is(err, fs.ErrNotExist) {
		// Moved or deleted by us before a crash let us record it.
		_, jerr := d.journal.Update(e.Path, func(x *Entry) error { x.State = StateReleased; return nil })
		return jerr
	}
	if err != nil {
		return d.failed(e, Transient, err)
	}
	if !ok {
		// New content under the same name after the upload: never delete
		// it; start over as a new recording.
		_, jerr := d.journal.Update(e.Path, func(x *Entry) error {
			x.State, x.SHA256, x.Receipt, x.EvidenceID, x.SessionID, x.Offset = StateDiscovered, "", nil, "", "", 0
			x.NextAttempt = d.now().Add(d.cfg.StableFor)
			if st, err := os.Stat(e.Path); err == nil {
				x.Size, x.ModTime = st.Size(), st.ModTime()
			}
			return nil
		})
		return errors.Join(errWait, jerr)
	}
	dest := ""
	if d.cfg.AfterReceipt == "move" {
		dest = destination(d.cfg.ReleasedDir, e)
		if _, err := d.journal.Update(e.Path, func(x *Entry) error { x.MovedTo = dest; return nil }); err != nil {
			return err
		}
		if err := moveFile(e.Path, dest, e.SHA256); err != nil {
			return d.failed(e, Transient, err)
		}
	} else if err := os.Remove(e.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return d.failed(e, Transient, err)
	}
	if e.Sidecar != "" {
		if dest != "" {
			if err := moveFile(e.Sidecar, dest+".json", ""); err != nil && !errors.Is(err, fs.ErrNotExist) {
				d.logger.Warn("dock: move sidecar", "file", e.Sidecar, "err", err)
			}
		} else if err := os.Remove(e.Sidecar); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.logger.Warn("dock: delete sidecar", "file", e.Sidecar, "err", err)
		}
	}
	_, err = d.journal.Update(e.Path, func(x *Entry) error { x.State = StateReleased; return nil })
	if err == nil {
		d.logger.Info("dock: released", "file", e.Path, "to", dest, "evidence_id", e.EvidenceID)
	}
	return err
}

// quarantine moves a file that keeps failing out of the camera folder
// (never deleting it) and records why.
func (d *Daemon) quarantine(e Entry) error {
	dest := destination(d.cfg.QuarantineDir, e)
	if _, err := d.journal.Update(e.Path, func(x *Entry) error { x.MovedTo = dest; return nil }); err != nil {
		return err
	}
	if err := moveFile(e.Path, dest, ""); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("quarantine %s: %w", e.Path, err)
	}
	if e.Sidecar != "" {
		moveFile(e.Sidecar, dest+".json", "")
	}
	_, err := d.journal.Update(e.Path, func(x *Entry) error { x.State = StateQuarantined; return nil })
	d.logger.Error("dock: quarantined", "file", e.Path, "to", dest, "failures", e.PermanentFailures, "last_error", e.LastError)
	return err
}

// destination keeps the file's path below its watched directory, and adds
// a suffix when the name is taken (cameras reuse file names).
func destination(dir string, e Entry) string {
	rel, err := filepath.Rel(e.Root, e.Path)
	if err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) > 1 && rel[:2] == ".." {
		rel = filepath.Base(e.Path)
	}
	dest := filepath.Join(dir, rel)
	if _, err := os.Lstat(dest); err == nil {
		ext := filepath.Ext(dest)
		tag := e.EvidenceID
		if tag == "" {
			tag = e.UpdatedAt.Format("20060102T150405.000000000")
		}
		dest = dest[:len(dest)-len(ext)] + "." + tag + ext
	}
	return dest
}

// moveFile renames src to dest, or copies (fsync'd, and checked against
// wantSHA when given) and removes src when they are on different
// filesystems.
func moveFile(src, dest, wantSHA string) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o750); err != nil {
		return err
	}
	if err := os.Rename(src, dest); err == nil {
		return nil
	} else if _, serr := os.Stat(src); serr != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dest + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && wantSHA != "" && hex.EncodeToString(h.Sum(nil)) != wantSHA {
		err = fmt.Errorf("copy of %s does not hash to %s", src, wantSHA)
	}
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(src)
}

// Status is the snapshot `dems-dock status` shows.
type Status struct {
	UpdatedAt time.Time `json:"updated_at"`
	Queue     []Entry   `json:"queue"`
	Recent    []Entry   `json:"recent"`
}

// ReadStatus builds a status from a journal.
func ReadStatus(j *Journal, recent int) (Status, error) {
	q, err := j.Queue()
	if err != nil {
		return Status{}, err
	}
	h, err := j.History(recent)
	if err != nil {
		return Status{}, err
	}
	return Status{UpdatedAt: time.Now().UTC(), Queue: q, Recent: h}, nil
}

func (d *Daemon) writeStatus() {
	if d.StatusPath == "" {
		return
	}
	st, err := ReadStatus(d.journal, 50)
	if err != nil {
		d.logger.Warn("dock: status", "err", err)
		return
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return
	}
	tmp := d.StatusPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		d.logger.Warn("dock: status", "err", err)
		return
	}
	if err := os.Rename(tmp, d.StatusPath); err != nil {
		d.logger.Warn("dock: status", "err", err)
	}
}
