package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/redact"
	"github.com/opendems/opendems/storage"
)

// RedactionWorker runs the redaction jobs of public access requests
// (request.RedactionJobArgs):
//
//   - detect: face detection and tracking over the clip's range of the
//     source (only that range is decoded); the
//     proposed spec (regions with origin "auto", each citing
//     ProposalReason) is stored as a detect output for the editor, which
//     accepts or rejects proposals one by one;
//   - preview: a fast low-resolution render of a spec version for the
//     editor (scaled to PreviewHeight lines, x264 ultrafast at a high
//     CRF; regions are drawn at the scaled coordinates);
//   - track: a box drawn on one frame followed forward and backward
//     through the clip (TrackBox, bounded memory, scale-aware); its
//     keyframes are stored as a track output, whose details carry them
//     for the editor's poll;
//   - render: the full-quality render of a spec version, followed by the
//     leak check: the detector runs over the output and every analysed
//     frame with a face outside all of the spec's regions is flagged for
//     the reviewer (a leak_check output).
//
// Every output is stored in the derivatives namespace and recorded with
// its SHA-256, the source's SHA-256 and the spec version
// (request.Store.RecordJobOutput); a render is also recorded in the
// item's chain of custody. Progress goes to redaction_jobs; a cancelled
// job's context ends and FFmpeg stops through the interrupter.
type RedactionWorker struct {
	river.WorkerDefaults[request.RedactionJobArgs]

	Pool     *pgxpool.Pool
	Storage  storage.Store
	Requests *request.Store
	// TempDir holds scratch files ("" means os.TempDir()).
	TempDir string
	// ProposalReason is the exemption code detection proposals cite
	// (default "b(7)(C)"; it must be a configured code).
	ProposalReason string
	// Detect tunes detection (zero: package redact's defaults).
	Detect redact.DetectOptions
	// PreviewHeight is the preview's height in lines (default 360; a
	// source no taller keeps its size).
	PreviewHeight int
	// Threads for decoding and encoding (0: FFmpeg decides).
	Threads int
	// MaxDuration bounds one attempt (default 2h).
	MaxDuration time.Duration
	Logger      *slog.Logger
	// Meter, when set, receives each detection, render and leak check
	// (work: detect, preview, render, leak_check).
	Meter MediaMeter
}

// Timeout is river's per-attempt deadline.
func (w *RedactionWorker) Timeout(*river.Job[request.RedactionJobArgs]) time.Duration {
	if w.MaxDuration > 0 {
		return w.MaxDuration
	}
	return 2 * time.Hour
}

func (w *RedactionWorker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// Work runs one attempt.
func (w *RedactionWorker) Work(ctx context.Context, job *river.Job[request.RedactionJobArgs]) error {
	a := job.Args
	log := w.logger().With("job_id", job.ID, "clip_id", a.ClipID, "job", a.Job, "attempt", job.Attempt)
	err := w.work(ctx, job.ID, a, log)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if permanent(err) || errors.Is(err, redact.ErrInvalidSpec) || errors.Is(err, ErrTrackInput) || errors.Is(err, request.ErrNotFound) || errors.Is(err, request.ErrConflict) {
		w.progress(job.ID, 0, "failed: "+msg)
		log.Warn("redaction job failed permanently", "err", err)
		return river.JobCancel(err)
	}
	if job.Attempt < job.MaxAttempts {
		msg = fmt.Sprintf("attempt %d failed, will retry: %s", job.Attempt, msg)
	}
	w.progress(job.ID, 0, msg)
	log.Warn("redaction job attempt failed", "err", err)
	return err
}

// progress records progress on a fresh context (the job's may be done).
func (w *RedactionWorker) progress(id int64, percent float64, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Requests.SetJobProgress(ctx, id, percent, msg); err != nil {
		w.logger().Warn("redaction job progress", "job_id", id, "err", err)
	}
}

// throttled returns a progress reporter that writes at most twice a
// second.
func (w *RedactionWorker) throttled(id int64, from, span float64, what string) func(redact.Progress) {
	var last time.Time
	return func(p redact.Progress) {
		if p.Total <= 0 || time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		w.progress(id, from+span*math.Min(p.Done/p.Total, 1), what)
	}
}

func (w *RedactionWorker) work(ctx context.Context, jobID int64, a request.RedactionJobArgs, log *slog.Logger) error {
	clip, err := w.Requests.Clip(ctx, a.ClipID)
	if err != nil {
		return err
	}
	if clip.RemovedAt != nil {
		return fmt.Errorf("clip %s: %w: removed from its request", clip.ID, request.ErrConflict)
	}
	dir, err := os.MkdirTemp(w.TempDir, "redaction-"+clip.ID.String()+"-")
	if err != nil {
		return fmt.Errorf("scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source")
	w.progress(jobID, 1, "copying the original")
	if err := w.FetchOriginal(ctx, clip, src); err != nil {
		return fmt.Errorf("fetch original: %w", err)
	}
	who := request.Actor{Name: "system:redaction-" + a.Job}
	in, out := float64(clip.InMs)/1000, float64(clip.OutMs)/1000
	switch a.Job {
	case request.JobDetect:
		opts := w.DetectJobOptions(in, out)
		opts.Source = clip.EvidenceID.String()
		opts.Progress = w.throttled(jobID, 5, 90, "detecting faces")
		started := time.Now()
		res, err := redact.Detect(ctx, src, opts)
		if err != nil {
			return err
		}
		meter(w.Meter, a.Job, math.Min(out, res.Media.Duration)-in, int64(res.FramesDecoded), started)
		spec := res.Spec
		b, err := spec.Marshal()
		if err != nil {
			return err
		}
		details := map[string]any{"proposals": len(spec.Regions), "frames_analysed": res.FramesAnalysed}
		if _, err := w.store(ctx, jobID, clip, who, request.OutputDetect, 0, bytes.NewReader(b), int64(len(b)), "application/json", details); err != nil {
			return err
		}
		log.Info("detection proposals stored", "proposals", len(spec.Regions))
	case request.JobPreview, request.JobRender:
		sv, err := w.Requests.Spec(ctx, clip.ID, a.SpecVersion)
		if err != nil {
			return err
		}
		spec, err := redact.Parse(sv.Spec)
		if err != nil {
			return err
		}
		spec.Clip.In, spec.Clip.Out = in, out
		spec.Clip.Source = clip.EvidenceID.String()
		outPath := filepath.Join(dir, a.Job+".mp4")
		opts := w.RenderJobOptions(a.Job)
		span := 90.0
		if a.Job == request.JobRender {
			span = 60
		}
		opts.Progress = w.throttled(jobID, 5, span, "rendering")
		started := time.Now()
		rep, err := redact.Render(ctx, spec, src, outPath, opts)
		if err != nil {
			return err
		}
		meter(w.Meter, a.Job, rep.Out-rep.In, int64(rep.Frames), started)
		kind := request.OutputPreview
		if a.Job == request.JobRender {
			kind = request.OutputRender
		}
		details := map[string]any{"frames": rep.Frames, "samples": rep.Samples, "items": len(rep.Items), "report": rep}
		if _, err := w.storeFile(ctx, jobID, clip, who, kind, sv.Version, outPath, "video/mp4", details); err != nil {
			return err
		}
		if a.Job == request.JobRender {
			w.progress(jobID, 66, "leak check: looking for faces outside every region")
			leaks, err := w.leakCheck(ctx, jobID, outPath, spec)
			if err != nil {
				return fmt.Errorf("leak check: %w", err)
			}
			b, err := json.Marshal(leaks)
			if err != nil {
				return err
			}
			details := map[string]any{"flagged_frames": len(leaks.Flagged), "frames_analysed": leaks.FramesAnalysed}
			if _, err := w.store(ctx, jobID, clip, who, request.OutputLeakCheck, sv.Version, bytes.NewReader(b), int64(len(b)), "application/json", details); err != nil {
				return err
			}
			log.Info("render and leak check done", "flagged_frames", len(leaks.Flagged))
		}
	case request.JobTrack:
		if a.Track == nil {
			return fmt.Errorf("%w: track job without a box", request.ErrInvalid)
		}
		box := a.Track.Box
		res, err := TrackBox(ctx, src, TrackRequest{Time: a.Track.Time, Box: redact.Box{X: box.X, Y: box.Y, W: box.Width, H: box.Height},
			From: in, To: out, Progress: w.throttled(jobID, 5, 90, "tracking the box")})
		if err != nil {
			return err
		}
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		details := map[string]any{"keyframes": len(res.Keyframes), "frames": res.Frames, "start": res.Start, "end": res.End, "result": res}
		if _, err := w.store(ctx, jobID, clip, who, request.OutputTrack, 0, bytes.NewReader(b), int64(len(b)), "application/json", details); err != nil {
			return err
		}
		log.Info("box tracked", "start", res.Start, "end", res.End, "keyframes", len(res.Keyframes))
	default:
		return fmt.Errorf("%w: unknown redaction job %q", request.ErrInvalid, a.Job)
	}
	w.progress(jobID, 100, "done")
	return nil
}

// DetectJobOptions are the options the detect job runs package redact's
// Detect with on a clip from in to out (source seconds): only the clip
// is decoded (seek to the keyframe before in, stop after out) and the
// proposals come back cut to it. Benchmarks use them too.
func (w *RedactionWorker) DetectJobOptions(in, out float64) redact.DetectOptions {
	opts := w.Detect
	opts.Reason = w.proposalReason()
	opts.Threads = w.Threads
	opts.In, opts.Out = in, out
	return opts
}

// RenderJobOptions are the options the preview or render job (job) runs
// package redact's Render with: the preview at PreviewHeight lines with
// x264 ultrafast CRF 35, the render at full resolution with Render's
// defaults (veryfast CRF 20). Benchmarks use them too.
func (w *RedactionWorker) RenderJobOptions(job string) redact.RenderOptions {
	opts := redact.RenderOptions{Threads: w.Threads, SkipReportFiles: true}
	if job == request.JobPreview {
		opts.Preset, opts.CRF, opts.MaxHeight = "ultrafast", 35, w.previewHeight()
	}
	return opts
}

func (w *RedactionWorker) previewHeight() int {
	if w.PreviewHeight > 0 {
		return w.PreviewHeight
	}
	return 360
}

func (w *RedactionWorker) proposalReason() string {
	if w.ProposalReason != "" {
		return w.ProposalReason
	}
	return "b(7)(C)"
}

// LeakReport lists the frames of a render in which the detector still
// finds a face outside all of the spec's regions.
type LeakReport struct {
	// Detector names the model that looked for leaks (see leakDetector).
	Detector       string       `json:"detector"`
	FramesAnalysed int          `json:"frames_analysed"`
	Flagged        []LeakedFace `json:"flagged"`
}

// LeakedFace is one face found outside every region: output time, source
// time and its box (pixels).
type LeakedFace struct {
	OutputTime float64    `json:"output_time"`
	SourceTime float64    `json:"source_time"`
	Box        redact.Box `json:"box"`
	Score      float64    `json:"score"`
}

// leakCheck runs detection over the rendered output. A face whose centre
// lies inside a region's box at that instant (or inside a full-frame blur
// range) is covered; any other face is flagged.
func (w *RedactionWorker) leakCheck(ctx context.Context, jobID int64, output string, spec *redact.Spec) (*LeakReport, error) {
	opts := w.Detect
	opts.Detector = leakDetector(opts.Detector)
	opts.Threads = w.Threads
	opts.Reason = w.proposalReason()
	opts.Progress = w.throttled(jobID, 66, 32, "leak check")
	started := time.Now()
	res, err := redact.Detect(ctx, output, opts)
	if err != nil {
		return nil, err
	}
	meter(w.Meter, "leak_check", res.Media.Duration, int64(res.FramesDecoded), started)
	rep := FindLeaks(spec, res.Observations, res.FramesAnalysed)
	rep.Detector = opts.Detector
	return rep, nil
}

// leakDetector is the model the leak check runs after a render made from
// proposals of the proposer model. A second check with the same model
// shares its blind spots (a size, a pose, a lighting it misses), so the
// check always includes the other model: the union of YuNet and pigo
// when one of them proposed. The proposer's own model stays in the union
// because a face it found may have been rejected or edited away by hand.
func leakDetector(proposer string) string {
	switch proposer {
	case "", redact.DetectorYuNet, redact.DetectorPigo:
		return redact.DetectorUnion
	}
	return proposer
}

// FindLeaks decides, for detections made on a render of spec (times on
// the output's timeline, which starts at the spec's clip.in), which faces
// no region covers.
func FindLeaks(spec *redact.Spec, obs []redact.Observation, analysed int) *LeakReport {
	rep := &LeakReport{FramesAnalysed: analysed, Flagged: []LeakedFace{}}
	for _, o := range obs {
		t := o.T + spec.Clip.In
		blurred := false
		for _, f := range spec.FullFrameBlur {
			if t >= f.Start && t <= f.End {
				blurred = true
			}
		}
		if blurred {
			continue
		}
		for _, d := range o.Detections {
			cx, cy := d.Box.X+d.Box.W/2, d.Box.Y+d.Box.H/2
			covered := false
			for i := range spec.Regions {
				b, ok := spec.Regions[i].BoxAt(t)
				if ok && cx >= b.X && cx <= b.X+b.W && cy >= b.Y && cy <= b.Y+b.H {
					covered = true
					break
				}
			}
			if !covered {
				rep.Flagged = append(rep.Flagged, LeakedFace{OutputTime: o.T, SourceTime: t, Box: d.Box, Score: d.Score})
			}
		}
	}
	return rep
}

// FetchOriginal copies the clip's original out of storage, verifying its
// SHA-256 on the way: redaction works only from verified bytes.
func (w *RedactionWorker) FetchOriginal(ctx context.Context, clip request.Clip, path string) error {
	var sum []byte
	var size int64
	if err := w.Pool.QueryRow(ctx, `SELECT sha256, size FROM evidence_items WHERE id = $1 AND state NOT IN ('purge_scheduled', 'purged')`,
		clip.EvidenceID).Scan(&sum, &size); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("evidence %s: %w", clip.EvidenceID, request.ErrNotFound)
		}
		return err
	}
	var d storage.Digest
	copy(d[:], sum)
	rc, err := w.Storage.Open(ctx, storage.Ref{Namespace: storage.Originals, Digest: d}, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, storage.NewHashingReader(rc, d, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *RedactionWorker) storeFile(ctx context.Context, jobID int64, clip request.Clip, who request.Actor, kind string, version int, path, contentType string, details map[string]any) (request.JobOutput, error) {
	f, err := os.Open(path)
	if err != nil {
		return request.JobOutput{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return request.JobOutput{}, err
	}
	return w.store(ctx, jobID, clip, who, kind, version, f, st.Size(), contentType, details)
}

// store hashes r (seekable), puts it into the derivatives namespace and
// records the output.
func (w *RedactionWorker) store(ctx context.Context, jobID int64, clip request.Clip, who request.Actor, kind string, version int, r io.ReadSeeker, size int64, contentType string, details map[string]any) (request.JobOutput, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return request.JobOutput{}, err
	}
	var d storage.Digest
	copy(d[:], h.Sum(nil))
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return request.JobOutput{}, err
	}
	obj, err := w.Storage.Put(ctx, storage.Ref{Namespace: storage.Derivatives, Digest: d}, size, r, storage.PutOptions{ContentType: contentType})
	if err != nil {
		return request.JobOutput{}, fmt.Errorf("store %s output: %w", kind, err)
	}
	if _, err := w.Pool.Exec(ctx, `INSERT INTO objects (namespace, sha256, size, backend, content_type)
		VALUES ('derivatives', $1, $2, $3, $4) ON CONFLICT (namespace, sha256) DO NOTHING`, d[:], obj.Size, backendName(w.Storage), contentType); err != nil {
		return request.JobOutput{}, err
	}
	dj, err := json.Marshal(details)
	if err != nil {
		return request.JobOutput{}, err
	}
	hexSum := hex.EncodeToString(d[:])
	return w.Requests.RecordJobOutput(ctx, who, request.JobOutput{ClipID: clip.ID, Kind: kind, SpecVersion: version,
		ObjectKey: "derivatives/" + hexSum, SHA256: hexSum, Size: size, SourceSHA256: clip.SourceSHA256, JobID: jobID, Details: dj})
}
