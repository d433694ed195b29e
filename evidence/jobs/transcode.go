package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/transcode"
)

// TranscodeMaxAttempts bounds retries of a transcode job. Media errors are
// never retried (they would fail the same way); this covers storage or
// database outages and killed workers.
const TranscodeMaxAttempts = 5

// InsertOpts gives every transcode job its bounded retries, whoever
// enqueues it (ingest does, in its commit transaction).
func (TranscodeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: TranscodeMaxAttempts}
}

// Proxy status values stored in evidence_items.proxy_status.
const (
	ProxyPending    = "pending"
	ProxyProcessing = "processing"
	ProxyReady      = "ready"
	ProxyFailed     = "failed"
)

// Derivative kinds stored in evidence_derivatives.kind.
const (
	KindProxy  = "proxy"
	KindPoster = "poster"
	KindSprite = "thumbstrip"
)

// NoProxyPrefix starts proxy_error when no playable proxy can be made, so
// the UI shows "no playable proxy: <reason>".
const NoProxyPrefix = "no playable proxy: "

// TranscodeWorker probes an original, makes its web proxy, poster and
// thumbnail sprite, and records them as derivatives of the item. Several
// processes may run it against one queue; every step is idempotent so a
// job rescued from a killed worker simply runs again.
type TranscodeWorker struct {
	river.WorkerDefaults[TranscodeArgs]

	Pool    *pgxpool.Pool
	Storage storage.Store
	// TempDir holds the job's scratch files (the original copied out of
	// storage, the proxy being written); "" means os.TempDir().
	TempDir string
	// Proxy tunes the encoder (threads, preset); zero means transcode's
	// defaults.
	Proxy transcode.ProxyOptions
	// Sprite tunes the thumbnail sprite (tile width, columns, quality);
	// the tile count always follows the duration. Zero means 10 columns
	// of 160 px tiles.
	Sprite transcode.SpriteOptions
	// MinTimeout is the least time a job gets, however short the media;
	// the timeout grows with the media's duration (see Timeout).
	MinTimeout time.Duration
	// MaxTimeout caps the timeout below river's RescueStuckJobsAfter, so a
	// long job is stopped by its own deadline (and retried) rather than
	// rescued by river while it is still running, which would run it twice
	// at once. Zero means no cap.
	MaxTimeout time.Duration
	// Meter, when set, receives each proxy made (work: the proxy's
	// method, remux or encode) with the wall time of the whole pass
	// (proxy, poster and sprite share one decode).
	Meter MediaMeter
	// Logger receives progress and failures (nil: slog.Default()).
	Logger *slog.Logger
	// FFmpegLog, when set (the router main installed), tags FFmpeg's own
	// log lines of each job with the item and job ids.
	FFmpegLog *transcode.FFmpegLog
}

// Timeout sizes the job's deadline to the media: probe results from an
// earlier attempt give the duration; otherwise it is estimated from the
// file size at a low body-camera bit rate (1 Mbit/s), which overestimates
// the duration of real footage. A proxy runs at least at real time on one
// core, so four times the duration plus a margin is generous.
func (w *TranscodeWorker) Timeout(job *river.Job[TranscodeArgs]) time.Duration {
	min := w.MinTimeout
	if min <= 0 {
		min = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var size int64
	var duration *float64
	err := w.Pool.QueryRow(ctx, `SELECT size, (metadata->'probe'->>'duration')::float8 FROM evidence_items WHERE id = $1`,
		job.Args.EvidenceID).Scan(&size, &duration)
	if err != nil {
		if w.MaxTimeout > 0 && min > w.MaxTimeout {
			return w.MaxTimeout
		}
		return min
	}
	secs := float64(size) * 8 / 1e6
	if duration != nil && *duration > 0 {
		secs = *duration
	}
	d := TranscodeTimeout(secs, min)
	if w.MaxTimeout > 0 && d > w.MaxTimeout {
		d = w.MaxTimeout
	}
	return d
}

// TranscodeTimeout is the deadline for media of the given duration in
// seconds: five minutes plus four times the duration, and at least min.
func TranscodeTimeout(durationSeconds float64, min time.Duration) time.Duration {
	d := 5*time.Minute + time.Duration(4*durationSeconds*float64(time.Second))
	if d < min {
		return min
	}
	return d
}

// Work runs one attempt.
func (w *TranscodeWorker) Work(ctx context.Context, job *river.Job[TranscodeArgs]) error {
	id := job.Args.EvidenceID
	log := w.logger().With("evidence_id", id, "job_id", job.ID, "attempt", job.Attempt)
	if w.FFmpegLog != nil {
		ctx = w.FFmpegLog.WithJob(ctx, "evidence_id", id, "job_id", job.ID)
	}
	err := w.work(ctx, job, log)
	if err == nil {
		return nil
	}
	if errors.Is(err, errGone) {
		log.Warn("transcode: item no longer needs a proxy", "err", err)
		return river.JobCancel(err)
	}
	var pending *outputsPendingError
	if errors.As(err, &pending) {
		if job.Attempt >= job.MaxAttempts {
			for _, kind := range pending.kinds {
				w.setOutput(ctx, id, kind, OutputState{Status: OutputFailed, Attempts: job.Attempt,
					Error: fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, pending.err)})
			}
		}
		log.Warn("transcode: thumbnails not stored; river will retry them", "outputs", pending.kinds, "err", err)
		return err
	}
	if permanent(err) {
		w.fail(id, NoProxyPrefix+Describe(err, ""), log)
		return river.JobCancel(err)
	}
	if ctx.Err() != nil {
		// Timeout or shutdown: leave the item pending so the UI says it is
		// waiting; river retries (a shutdown is not the media's fault).
		w.setStatus(id, ProxyPending, fmt.Sprintf("attempt %d interrupted: %v", job.Attempt, ctx.Err()))
		return err
	}
	if job.Attempt >= job.MaxAttempts {
		w.fail(id, NoProxyPrefix+fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, err), log)
		return err
	}
	w.setStatus(id, ProxyPending, fmt.Sprintf("attempt %d failed, will retry: %v", job.Attempt, err))
	log.Warn("transcode attempt failed; river will retry", "err", err)
	return err
}

var errGone = errors.New("evidence item missing or purged")

// permanent reports media errors that no retry can fix.
func permanent(err error) bool {
	return errors.Is(err, transcode.ErrCorruptMedia) || errors.Is(err, transcode.ErrNoMedia) ||
		errors.Is(err, transcode.ErrNoVideo) || errors.Is(err, transcode.ErrInvalidOptions) ||
		errors.Is(err, transcode.ErrUnsupportedCodec) || errors.Is(err, storage.ErrDigestMismatch) ||
		errors.Is(err, storage.ErrNotFound)
}

// reason is the stored, human-readable cause: the kind first, then
// FFmpeg's or storage's words.
func reason(err error) string {
	var me *transcode.MediaError
	switch {
	case errors.As(err, &me) && me.Kind != nil:
		if me.Err != nil {
			return me.Kind.Error() + " (" + me.Err.Error() + ")"
		}
		return me.Kind.Error()
	case errors.Is(err, storage.ErrDigestMismatch):
		return "the stored original does not match its SHA-256 (" + err.Error() + ")"
	case errors.Is(err, storage.ErrNotFound):
		return "the original is missing from storage"
	}
	return err.Error()
}

func (w *TranscodeWorker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

type itemRow struct {
	sha      storage.Digest
	size     int64
	state    string
	hasRec   bool
	filename string
}

func (w *TranscodeWorker) work(ctx context.Context, job *river.Job[TranscodeArgs], log *slog.Logger) error {
	id := job.Args.EvidenceID
	var it itemRow
	var sum []byte
	err := w.Pool.QueryRow(ctx, `UPDATE evidence_items SET proxy_status = $2, proxy_progress = 0, proxy_attempts = $3,
			proxy_error = '', proxy_updated_at = now(),
			state = CASE WHEN state = 'ingested' THEN 'processing' ELSE state END
		WHERE id = $1 AND state NOT IN ('purge_scheduled', 'purged')
		RETURNING sha256, size, state, recorded_at IS NOT NULL, filename`, id, ProxyProcessing, job.Attempt).Scan(&sum, &it.size, &it.state, &it.hasRec, &it.filename)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("transcode %s: %w", id, errGone)
	}
	if err != nil {
		return fmt.Errorf("transcode %s: start: %w", id, err)
	}
	copy(it.sha[:], sum)
	log.Info("transcode started", "size", it.size)

	dir, err := os.MkdirTemp(w.TempDir, "transcode-"+id.String()+"-")
	if err != nil {
		return fmt.Errorf("transcode %s: scratch dir: %w", id, err)
	}
	defer os.RemoveAll(dir)

	// 1. The original, copied out of storage with its hash checked on the
	// way: a proxy is only ever made from verified bytes.
	src := filepath.Join(dir, "original")
	pr := newProgress(w.Pool, id)
	if err := w.fetch(ctx, it, src, pr); err != nil {
		return fmt.Errorf("transcode %s: fetch original: %w", id, err)
	}
	pr.set(ctx, 5, true)

	// 2. Probe, stored on the item.
	probe, err := transcode.Probe(ctx, src)
	if err != nil {
		return &describedError{msg: Describe(err, it.filename), err: err}
	}
	pj, err := json.Marshal(probe)
	if err != nil {
		return fmt.Errorf("transcode %s: probe json: %w", id, err)
	}
	if _, err := w.Pool.Exec(ctx, `UPDATE evidence_items SET metadata = metadata || jsonb_build_object('probe', $2::jsonb),
			recorded_at = coalesce(recorded_at, $3), updated_at = now() WHERE id = $1`, id, pj, probe.CreationTime); err != nil {
		return fmt.Errorf("transcode %s: store probe: %w", id, err)
	}

	// 3. Proxy, poster and sprite in one decoding pass: 5..95 %. Each
	// output succeeds or fails on its own; outputs made by an earlier
	// attempt are not made again (retries are per output).
	want, err := w.outputsToMake(ctx, id, probe.HasVideo, job.Args.Outputs)
	if err != nil {
		return fmt.Errorf("transcode %s: %w", id, err)
	}
	opts := transcode.ProcessOptions{
		Proxy: w.Proxy, Duration: probe.Duration, DurationSource: probe.DurationSource,
		Progress: func(p transcode.Progress) { pr.set(ctx, 5+p.Percent*0.9, false) },
	}
	proxyPath := filepath.Join(dir, "proxy.mp4")
	contentType := "video/mp4"
	if !probe.HasVideo {
		proxyPath = filepath.Join(dir, "proxy.m4a")
		contentType = "audio/mp4"
	}
	if want[KindProxy] {
		opts.ProxyPath = proxyPath
	}
	if want[KindPoster] {
		opts.Poster = &transcode.PosterOptions{Threads: w.Proxy.Threads}
	}
	if want[KindSprite] {
		sp := w.Sprite
		sp.Tiles, sp.Threads = spriteTiles(probe.Duration), w.Proxy.Threads
		if sp.Columns == 0 {
			sp.Columns = 10
		}
		if sp.TileWidth == 0 {
			sp.TileWidth = 160
		}
		opts.Sprite = &sp
	}
	for kind := range want {
		w.setOutput(ctx, id, kind, OutputState{Status: OutputProcessing, Attempts: job.Attempt})
	}
	started := time.Now()
	res, _ := transcode.Process(ctx, src, opts)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transcode %s: %w", id, err)
	}
	if want[KindProxy] && res.ProxyErr == nil && res.Proxy != nil {
		meter(w.Meter, res.Proxy.Method, res.Duration, res.Proxy.VideoFrames, started)
	}
	pr.set(ctx, 95, true)

	// 4. Store each output that was made; record each failure with its
	// reason. A storage or database failure leaves the output to retry.
	name := it.filename
	var retry []error
	var pending []string
	// The proxy is ready when an earlier attempt stored it or this one did.
	proxyReady := !want[KindProxy]
	outcome := func(kind string, made error, store func() error) {
		st := OutputState{Status: OutputReady, Attempts: job.Attempt}
		err := made
		if err == nil {
			if err = store(); err != nil {
				err = fmt.Errorf("%s: store: %w", kind, err)
			}
		}
		switch {
		case err == nil:
			proxyReady = proxyReady || kind == KindProxy
			if kind == KindProxy && res.Proxy != nil {
				st.Method, st.NotRemuxed = res.Proxy.Method, res.Proxy.NotRemuxed
			}
		case permanent(err):
			st.Status, st.Error = OutputFailed, Describe(err, name)
			log.Warn("transcode: output failed", "output", kind, "reason", st.Error)
		default:
			st.Status, st.Error = OutputPending, Describe(err, name)
			retry = append(retry, err)
			pending = append(pending, kind)
			log.Warn("transcode: output failed; will retry", "output", kind, "err", err)
		}
		w.setOutput(ctx, id, kind, st)
	}
	if want[KindProxy] {
		outcome(KindProxy, res.ProxyErr, func() error {
			// Completeness first: once the proxy is stored a retry skips
			// it, and the partial mark must not be lost with it.
			if err := w.recordCompleteness(ctx, id, res.Proxy.Completeness, log); err != nil {
				return err
			}
			details := map[string]any{"content_type": contentType, "proxy": res.Proxy}
			return w.storeFile(ctx, id, it.sha, KindProxy, proxyPath, contentType, details)
		})
	}
	if want[KindPoster] {
		outcome(KindPoster, res.PosterErr, func() error {
			return w.storeBytes(ctx, id, it.sha, KindPoster, res.PosterJPEG, "image/jpeg", map[string]any{"content_type": "image/jpeg", "poster": res.Poster})
		})
	}
	if want[KindSprite] {
		outcome(KindSprite, res.SpriteErr, func() error {
			return w.storeBytes(ctx, id, it.sha, KindSprite, res.SpriteJPEG, "image/jpeg", map[string]any{"content_type": "image/jpeg", "sprite": res.Sprite})
		})
	}
	if len(retry) > 0 {
		err := fmt.Errorf("transcode %s: %w", id, errors.Join(retry...))
		if !proxyReady {
			return err
		}
		// The recording is playable now; only thumbnails wait for the
		// retry, which makes just them.
		if ferr := w.markReady(ctx, id); ferr != nil {
			return errors.Join(err, ferr)
		}
		return &outputsPendingError{kinds: pending, err: err}
	}
	if want[KindProxy] && res.ProxyErr != nil {
		// No playable proxy and no retry can make one; the thumbnails that
		// could be made are kept.
		return &describedError{msg: Describe(res.ProxyErr, name), err: res.ProxyErr}
	}
	if err := w.markReady(ctx, id); err != nil {
		return err
	}
	log.Info("transcode finished", "duration", res.Duration, "duration_source", res.DurationSource)
	return nil
}

// markReady records that the item's proxy is ready and the item playable.
func (w *TranscodeWorker) markReady(ctx context.Context, id uuid.UUID) error {
	if _, err := w.Pool.Exec(ctx, `UPDATE evidence_items SET proxy_status = $2, proxy_progress = 100, proxy_error = '',
			proxy_updated_at = now(), updated_at = now(),
			state = CASE WHEN state IN ('ingested', 'processing') THEN 'ready' ELSE state END
		WHERE id = $1`, id, ProxyReady); err != nil {
		return fmt.Errorf("transcode %s: finish: %w", id, err)
	}
	return nil
}

// outputsPendingError: the proxy is ready, some thumbnails failed for a
// reason a retry may fix (storage, database). The item keeps its ready
// proxy status; river retries the job, which makes only those outputs.
type outputsPendingError struct {
	kinds []string
	err   error
}

func (e *outputsPendingError) Error() string { return e.err.Error() }
func (e *outputsPendingError) Unwrap() error { return e.err }

// spriteTiles picks one tile every few seconds: enough to find a moment on
// the timeline, bounded so long recordings keep a small sprite.
func spriteTiles(duration float64) int {
	n := int(duration / 5)
	switch {
	case n < 10:
		return 10
	case n > 100:
		return 100
	}
	return n
}

// fetch streams the original into path (bounded memory) and verifies it;
// copying a large original takes a while, so it counts as the first 5 %.
func (w *TranscodeWorker) fetch(ctx context.Context, it itemRow, path string, pr *progress) error {
	rc, err := w.Storage.Open(ctx, storage.Ref{Namespace: storage.Originals, Digest: it.sha}, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := &countingWriter{w: f, fn: func(n int64) {
		if it.size > 0 {
			pr.set(ctx, 5*float64(n)/float64(it.size), false)
		}
	}}
	_, err = io.Copy(cw, storage.NewHashingReader(rc, it.sha, it.size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// countingWriter reports how many bytes went through it.
type countingWriter struct {
	w  io.Writer
	n  int64
	fn func(int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.fn(c.n)
	return n, err
}

func (w *TranscodeWorker) storeFile(ctx context.Context, id uuid.UUID, source storage.Digest, kind, path, contentType string, details map[string]any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	var d storage.Digest
	copy(d[:], h.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return w.record(ctx, id, source, kind, d, size, f, contentType, details)
}

func (w *TranscodeWorker) storeBytes(ctx context.Context, id uuid.UUID, source storage.Digest, kind string, b []byte, contentType string, details map[string]any) error {
	d := storage.Digest(sha256.Sum256(b))
	return w.record(ctx, id, source, kind, d, int64(len(b)), bytes.NewReader(b), contentType, details)
}

// record puts the bytes into the derivatives namespace and replaces the
// item's derivative of that kind in one transaction, so a re-run (a
// rescued job) leaves exactly one current proxy, poster and sprite.
func (w *TranscodeWorker) record(ctx context.Context, id uuid.UUID, source storage.Digest, kind string, d storage.Digest, size int64, r io.Reader, contentType string, details map[string]any) error {
	ref := storage.Ref{Namespace: storage.Derivatives, Digest: d}
	obj, err := w.Storage.Put(ctx, ref, size, r, storage.PutOptions{ContentType: contentType})
	if err != nil {
		return err
	}
	dj, err := json.Marshal(details)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, w.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO objects (namespace, sha256, size, backend, content_type)
			VALUES ('derivatives', $1, $2, $3, $4) ON CONFLICT (namespace, sha256) DO NOTHING`,
			d[:], obj.Size, backendName(w.Storage), contentType); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM evidence_derivatives WHERE evidence_id = $1 AND kind = $2`, id, kind); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO evidence_derivatives (evidence_id, kind, sha256, size, source_sha256, details)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, kind, d[:], obj.Size, source[:], dj)
		return err
	})
}

func backendName(s storage.Store) string {
	if n, ok := s.(interface{ Name() string }); ok {
		return n.Name()
	}
	return ""
}

// fail marks the item as having no playable proxy. It runs on a fresh
// context: the job's may be the reason it failed.
func (w *TranscodeWorker) fail(id uuid.UUID, why string, log *slog.Logger) {
	log.Warn("transcode failed permanently", "reason", why)
	w.setStatus(id, ProxyFailed, why)
}

func (w *TranscodeWorker) setStatus(id uuid.UUID, status, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	if _, err := w.Pool.Exec(ctx, `UPDATE evidence_items SET proxy_status = $2, proxy_error = $3, proxy_updated_at = now(),
			updated_at = now(), state = CASE WHEN state = 'processing' THEN 'ingested' ELSE state END WHERE id = $1`,
		id, status, msg); err != nil {
		w.logger().Error("transcode: could not store status", "evidence_id", id, "status", status, "err", err)
	}
}

// progress writes the percentage at most every half second (and on every
// whole step forced by the caller), so a fast encoder does not hammer the
// database while the UI still sees it move.
type progress struct {
	pool *pgxpool.Pool
	id   uuid.UUID
	last time.Time
	pct  float64
}

func newProgress(pool *pgxpool.Pool, id uuid.UUID) *progress { return &progress{pool: pool, id: id} }

func (p *progress) set(ctx context.Context, pct float64, force bool) {
	if pct > 100 {
		pct = 100
	}
	if !force && (time.Since(p.last) < 500*time.Millisecond || pct-p.pct < 1) {
		return
	}
	p.last, p.pct = time.Now(), pct
	if _, err := p.pool.Exec(ctx, `UPDATE evidence_items SET proxy_progress = $2, proxy_updated_at = now() WHERE id = $1`, p.id, float32(pct)); err != nil && ctx.Err() == nil {
		slog.Warn("transcode: progress not stored", "evidence_id", p.id, "err", err)
	}
}

var _ river.Worker[TranscodeArgs] = (*TranscodeWorker)(nil)
