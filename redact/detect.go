package redact

import (
	"context"
	_ "embed" // the facefinder cascade
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/asticode/go-astiav"
	pigo "github.com/esimov/pigo/core"

	"github.com/opendems/opendems/transcode"
)

// facefinderCascade is pigo's frontal-face cascade, copied unchanged from
// github.com/esimov/pigo v1.4.6 (cascade/facefinder, MIT, see
// LICENSE.pigo). A string, so the embedded bytes are immutable.
//
//go:embed cascade_facefinder
var facefinderCascade string

// DetectOptions tunes face detection. The zero value of a field means its
// default.
type DetectOptions struct {
	// Stride analyses every Stride-th decoded frame (2). Tracking bridges
	// the frames in between.
	Stride int
	// MaxWidth downscales frames wider than this before detection (960
	// for YuNet, whose smallest face is about 10 px, so faces from about
	// 20 px tall are found at 1080p; 640 for pigo), by an integer factor.
	MaxWidth int
	// Detector selects the model: "yunet" (default), "pigo", or "union"
	// (both, merged).
	Detector string
	// ONNXRuntimeLibrary locates libonnxruntime.so.1 (FindONNXRuntime).
	ONNXRuntimeLibrary string
	// YuNet tunes the YuNet detector (its Library defaults to
	// ONNXRuntimeLibrary).
	YuNet YuNetOptions
	// MinPeak is the confidence (0..1) at least one detection of a track
	// must reach for the track to be proposed as a region (0.75 with YuNet;
	// pigo: 0, its cluster score threshold MinScore already gates). Weaker
	// tracks, which animals' faces and patterns make, are listed in the
	// review as candidates for a human look instead of being masked.
	MinPeak float64
	// Coarse are the extra, coarser analysis scales (integer shrink
	// factors of the analysis picture; default {3}) that find faces too
	// large for the network at the analysis size: with the analysis
	// picture itself they cover faces from about 20 px up to the frame.
	Coarse []int
	// FullEvery also runs YuNet on the full-resolution picture every
	// FullEvery-th analysed frame when the frame is wider than MaxWidth
	// (default 4; -1: never): it finds faces of 24-40 px at 1080p that the
	// analysis width makes too small, and the tracker carries them between
	// those frames.
	FullEvery int
	// MinFace and MaxFace bound the face size in analysed (downscaled)
	// pixels (20 and 1000).
	MinFace, MaxFace int
	// ShiftFactor and ScaleFactor are pigo's window step and scale step
	// (0.15 and 1.15, pigo's own defaults; 0.1 and 1.1 find slightly more
	// borderline faces at three times the cost).
	ShiftFactor, ScaleFactor float64
	// ClusterIoU merges overlapping raw detections (0.2).
	ClusterIoU float64
	// MinScore is the cluster score a face needs (5, pigo's usual value).
	MinScore float64
	// Workers is the number of goroutines running the classifier
	// (GOMAXPROCS).
	Workers int
	// Threads is the decoder thread count (0: FFmpeg decides).
	Threads int
	// Tracker tunes association, padding, hold and smoothing.
	Tracker TrackerOptions
	// Effect is applied to proposed regions (blur strength 40).
	Effect Effect
	// Shape of proposed regions (ellipse).
	Shape Shape
	// Reason recorded on proposed regions.
	Reason string
	// Source is recorded as clip.source (the input path when empty).
	Source string
	// Progress, when set, is called as frames are decoded.
	Progress func(Progress)
	// In and Out limit detection to a clip of the source (seconds on the
	// source timeline; Out 0 means the end). Decoding seeks to the
	// keyframe before In, drops the frames before it and stops after Out;
	// observations keep source times, and proposed regions are cut to
	// [In, Out] (Spec.Clip carries the range).
	In, Out float64
}

func (o DetectOptions) withDefaults() DetectOptions {
	if o.Stride <= 0 {
		o.Stride = 2
	}
	if o.Detector == "" {
		o.Detector = DetectorYuNet
	}
	if o.MaxWidth <= 0 {
		o.MaxWidth = 960
		if o.Detector == DetectorPigo {
			o.MaxWidth = 640
		}
	}
	if o.Coarse == nil {
		o.Coarse = []int{3}
	}
	if o.FullEvery == 0 {
		o.FullEvery = 4
	}
	if o.MinPeak == 0 && o.Detector != DetectorPigo {
		o.MinPeak = 0.75
	}
	if o.YuNet.Library == "" {
		o.YuNet.Library = o.ONNXRuntimeLibrary
	}
	if o.MinFace <= 0 {
		o.MinFace = 20
	}
	if o.MaxFace <= 0 {
		o.MaxFace = 1000
	}
	if o.ShiftFactor <= 0 {
		o.ShiftFactor = 0.15
	}
	if o.ScaleFactor <= 1 {
		o.ScaleFactor = 1.15
	}
	if o.ClusterIoU <= 0 {
		o.ClusterIoU = 0.2
	}
	if o.MinScore <= 0 {
		o.MinScore = 5
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Effect.Type == "" {
		o.Effect = Effect{Type: EffectBlur, Strength: defaultBlur}
	}
	if o.Shape == "" {
		o.Shape = ShapeEllipse
	}
	if o.Reason == "" {
		o.Reason = "face (automatic detection, review before release)"
	}
	return o
}

// FaceDetector finds frontal faces in grayscale images with pigo. It is
// safe for concurrent use: the unpacked cascade is only read.
type FaceDetector struct {
	classifier *pigo.Pigo
	opts       DetectOptions
}

// NewFaceDetector unpacks the embedded facefinder cascade.
func NewFaceDetector(opts DetectOptions) (*FaceDetector, error) {
	cl, err := pigo.NewPigo().Unpack([]byte(facefinderCascade))
	if err != nil {
		return nil, fmt.Errorf("redact: unpacking face cascade: %w", err)
	}
	return &FaceDetector{classifier: cl, opts: opts.withDefaults()}, nil
}

// Detect returns the faces in img (coordinates of img), strongest first.
func (d *FaceDetector) Detect(img *image.Gray) []Detection {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	pix := img.Pix
	if img.Stride != w || img.Rect.Min != (image.Point{}) {
		pix = make([]uint8, w*h)
		for y := 0; y < h; y++ {
			copy(pix[y*w:(y+1)*w], img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y):])
		}
	}
	o := d.opts
	raw := d.classifier.RunCascade(pigo.CascadeParams{
		MinSize: o.MinFace, MaxSize: min(o.MaxFace, min(w, h)), // a face fits in the frame
		ShiftFactor: o.ShiftFactor, ScaleFactor: o.ScaleFactor,
		ImageParams: pigo.ImageParams{Pixels: pix, Rows: h, Cols: w, Dim: w},
	}, 0)
	clusters := d.classifier.ClusterDetections(raw, o.ClusterIoU)
	var out []Detection
	for _, c := range clusters {
		if float64(c.Q) < o.MinScore {
			continue
		}
		s := float64(c.Scale)
		out = append(out, Detection{
			Box:   Box{float64(c.Col) - s/2, float64(c.Row) - s/2, s, s},
			Score: float64(c.Q),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	// pigo's greedy clustering sometimes leaves two clusters on one face;
	// suppress any detection that overlaps a stronger one, or the tracker
	// would start a second track for the same face.
	kept := out[:0]
	for _, d := range out {
		dup := false
		for _, k := range kept {
			if iou(d.Box, k.Box) > 0.3 || contains(k.Box, d.Box) || contains(d.Box, k.Box) {
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, d)
		}
	}
	return kept
}

// contains reports whether a contains b's centre.
func contains(a, b Box) bool {
	cx, cy := b.X+b.W/2, b.Y+b.H/2
	return cx >= a.X && cx <= a.X+a.W && cy >= a.Y && cy <= a.Y+a.H
}

// DetectResult is a proposal and what it was made from.
type DetectResult struct {
	// Spec proposes one region per tracked face (origin auto). It has no
	// audio ranges; a person adds those and reviews every region.
	Spec *Spec
	// Tracks are the tracked faces behind the regions, in the same order.
	Tracks []Track
	// Doubtful are tracks whose best detection stayed under MinPeak: not
	// proposed, listed in the review as candidates.
	Doubtful []Track
	// Observations are the raw per-frame detections (source pixels).
	Observations []Observation
	// FramesDecoded and FramesAnalysed count the work done.
	FramesDecoded, FramesAnalysed int
	// FramesSkipped were decoded before DetectOptions.In only to reach it
	// (from the keyframe the seek landed on).
	FramesSkipped int
	// Media is what was probed from the input.
	Media MediaInfo
	// Detector names the model(s) that proposed the regions.
	Detector string
	// Review groups the regions per person for the records officer and
	// says what needs a human look.
	Review FaceReview
}

type pictureJob struct {
	t     float64
	img   *Picture // the analysis picture
	scale float64  // source pixels per analysed pixel
	// full, when set, is the same frame at full resolution, for YuNet's
	// full-resolution pass (FullEvery).
	full *Picture
}

// Detect decodes the video of path, runs face detection on every Stride-th
// frame (BGR pictures at the analysis width, one detector per worker, each
// with its scale schedule), tracks the faces and returns a validated spec
// proposal with the people found, for review. Memory stays bounded: frames
// stream through a queue of 2·Workers pictures, and only detections and
// one thumbnail per person are kept.
func Detect(ctx context.Context, path string, opts DetectOptions) (*DetectResult, error) {
	opts = opts.withDefaults()
	if opts.In < 0 || opts.Out < 0 || (opts.Out > 0 && opts.Out <= opts.In) {
		return nil, fmt.Errorf("redact: detect %s: %w: range %g..%g", path, ErrInvalidSpec, opts.In, opts.Out)
	}
	var res *DetectResult
	err := errSeekMissed
	for _, margin := range seekMargins { // as Render: exact, earlier, from the start
		if res, err = detect(ctx, path, opts, margin); !errors.Is(err, errSeekMissed) {
			break
		}
	}
	return res, err
}

func detect(ctx context.Context, path string, opts DetectOptions, margin float64) (*DetectResult, error) {
	// Open the detectors first: a missing ONNX Runtime fails fast.
	dets := make([]Detector, opts.Workers)
	defer func() {
		for _, d := range dets {
			if d != nil {
				d.Close()
			}
		}
	}()
	for i := range dets {
		d, err := NewDetector(opts)
		if err != nil {
			return nil, err
		}
		dets[i] = d
	}
	// The full-resolution pass is YuNet's (pigo's scale range is set by
	// MinFace instead).
	useFull := opts.FullEvery > 0 && opts.Detector != DetectorPigo
	fullDets := make([]*YuNet, opts.Workers)
	defer func() {
		for _, d := range fullDets {
			if d != nil {
				d.Close()
			}
		}
	}()
	c := transcode.NewCloser()
	defer c.Close()
	in, err := transcode.OpenInput(ctx, c, path)
	if err != nil {
		return nil, fmt.Errorf("redact: detect: %w", err)
	}
	media := mediaInfo(in)
	if in.Video == nil {
		return nil, fmt.Errorf("redact: detect %s: %w", path, transcode.ErrNoVideo)
	}
	vdec, err := transcode.NewDecoder(c, in, in.Video, opts.Threads)
	if err != nil {
		return nil, fmt.Errorf("redact: detect: %w", err)
	}
	start := startSeconds(in)
	total := media.Duration
	if opts.Out > 0 {
		total = min(total, opts.Out)
	}
	if math.IsInf(total, 1) {
		total = 0
	} else {
		total = max(0, total-opts.In)
	}
	checkSeek := false
	if margin >= 0 && opts.In > seekMargin {
		// Seek to a keyframe before the in point rather than decode the
		// whole recording up to it (see Render).
		ts := int64((opts.In + start - margin) * float64(astiav.TimeBase))
		checkSeek = in.FormatContext.SeekFrame(-1, ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)) == nil
	}
	seenFrame := false

	jobs := make(chan pictureJob, opts.Workers*2)
	var mu sync.Mutex
	var obs []Observation
	var detectErr error
	thumbs := newThumbStore()
	var wg sync.WaitGroup
	for w := range opts.Workers {
		wg.Add(1)
		go func(det Detector, w int) {
			defer wg.Done()
			for j := range jobs {
				found, thumbImg, thumbScale, err := detectJob(det, &fullDets[w], opts, &j)
				if err != nil {
					mu.Lock()
					if detectErr == nil {
						detectErr = err
					}
					mu.Unlock()
					continue
				}
				for k := range found {
					thumbs.offer(j.t, found[k], thumbImg, thumbScale)
				}
				mu.Lock()
				obs = append(obs, Observation{T: j.t, Detections: found})
				mu.Unlock()
			}
		}(dets[w], w)
	}
	// Every analysed frame is converted by swscale straight to the
	// analysis size (area average, packed BGR); a frame of the full-
	// resolution pass is also converted at full size, by a second graph.
	// (Converting every frame at full size and shrinking it in Go cost
	// more than a third of the time outside the network.)
	var graph, fullGraph *transcode.FilterGraph
	var scale float64
	res := &DetectResult{Media: media, Detector: dets[0].Name()}
	toPicture := func(g *astiav.Frame) (*Picture, error) {
		view, err := grayView(g) // first plane: packed BGR, 3 bytes a pixel
		if err != nil {
			return nil, err
		}
		// Copy: the filter reuses the frame after its callback.
		w, h := g.Width(), g.Height()
		img := NewPicture(w, h)
		for y := 0; y < h; y++ {
			copy(img.Pix[y*img.Stride:(y+1)*img.Stride], view.Pix[y*view.Stride:y*view.Stride+3*w])
		}
		return img, nil
	}
	pictureOf := func(fg *transcode.FilterGraph, f *astiav.Frame) (*Picture, float64, error) {
		var img *Picture
		var t float64
		err := fg.Push(f, func(g *astiav.Frame) error {
			var err error
			img, err = toPicture(g)
			t = ptsSeconds(g.Pts(), fg.TimeBase()) - start
			return err
		})
		if err == nil && img == nil {
			err = errors.New("the analysis filter gave no picture")
		}
		return img, t, err
	}
	decodeErr := transcode.DecodeStreams(c, in, []*transcode.Decoder{vdec}, func(d *transcode.Decoder, f *astiav.Frame) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := ptsSeconds(f.Pts(), d.TimeBase()) - start
		if !seenFrame {
			seenFrame = true
			if checkSeek && t > opts.In {
				return errSeekMissed
			}
		}
		if t < opts.In-1e-6 {
			res.FramesSkipped++
			return nil // before the clip: decoded only to reach it
		}
		if opts.Out > 0 && t > opts.Out+1e-6 {
			return errPastOut
		}
		n := res.FramesDecoded
		res.FramesDecoded++
		if opts.Progress != nil {
			opts.Progress(Progress{Done: t - opts.In, Total: total, Frames: res.FramesDecoded})
		}
		if n%opts.Stride != 0 {
			return nil
		}
		if graph == nil {
			// Detect on the upright picture: the models find upright
			// faces best, and spec coordinates are upright.
			fw, fh := f.Width(), f.Height()
			if media.Rotation == 90 || media.Rotation == 270 {
				fw, fh = fh, fw
			}
			factor := max(1, (fw+opts.MaxWidth-1)/opts.MaxWidth)
			w, h := max(1, fw/factor), max(1, fh/factor)
			scale = float64(fw) / float64(w)
			rot := transcode.RotationFilter(media.Rotation)
			if rot != "" {
				rot += ","
			}
			src := transcode.VideoSourceOf(f, d.TimeBase())
			g, err := transcode.NewVideoFilter(c, src, fmt.Sprintf("%sscale=%d:%d:flags=area,format=bgr24", rot, w, h), 1)
			if err != nil {
				return err
			}
			graph = g
			if useFull && factor > 1 {
				// At full size: shrunk to 1440 px wide for it, the pass
				// lost one of the three 24-32 px faces of the evaluation
				// set (TestRedactionQuality), so it is not shrunk at all.
				if fullGraph, err = transcode.NewVideoFilter(c, src, rot+"format=bgr24", 1); err != nil {
					return err
				}
			}
		}
		img, t, err := pictureOf(graph, f)
		if err != nil {
			return err
		}
		job := pictureJob{t: t, img: img, scale: scale}
		if fullGraph != nil && res.FramesAnalysed%opts.FullEvery == 0 {
			if job.full, _, err = pictureOf(fullGraph, f); err != nil {
				return err
			}
		}
		res.FramesAnalysed++
		select {
		case jobs <- job:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(jobs)
	wg.Wait()
	if errors.Is(decodeErr, errPastOut) {
		decodeErr = nil
	}
	if errors.Is(decodeErr, errSeekMissed) {
		return nil, errSeekMissed
	}
	if decodeErr != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(decodeErr, cerr) {
			decodeErr = fmt.Errorf("%w (%w)", cerr, decodeErr)
		}
		return nil, fmt.Errorf("redact: detect %s: %w", path, decodeErr)
	}
	if detectErr != nil {
		return nil, fmt.Errorf("redact: detect %s: %w", path, detectErr)
	}
	if res.FramesDecoded == 0 {
		return nil, fmt.Errorf("redact: detect %s: %w: no video frame decoded", path, transcode.ErrCorruptMedia)
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].T < obs[j].T })
	res.Observations = obs
	to := opts.Tracker
	if to.Lead == 0 && len(obs) > 1 {
		to.Lead = (obs[len(obs)-1].T - obs[0].T) / float64(len(obs)-1) // the analysis interval
	}
	dur := media.Duration
	if opts.Out > 0 {
		dur = min(dur, opts.Out)
	}
	if math.IsInf(dur, 1) && len(obs) > 0 {
		dur = obs[len(obs)-1].T
	}
	for _, tr := range TrackFaces(obs, media.Width, media.Height, dur, to) {
		if opts.In > 0 || opts.Out > 0 {
			if tr.Keyframes = cutKeyframes(tr.Keyframes, opts.In, dur); len(tr.Keyframes) == 0 {
				continue
			}
		}
		if tr.Peak >= opts.MinPeak {
			res.Tracks = append(res.Tracks, tr)
		} else {
			res.Doubtful = append(res.Doubtful, tr)
		}
	}
	res.Spec = ProposeSpec(opts.sourceOr(path), res.Tracks, opts)
	res.Spec.Clip.In, res.Spec.Clip.Out = opts.In, opts.Out
	if err := res.Spec.ValidateMedia(media); err != nil {
		return nil, fmt.Errorf("redact: detect %s: proposal does not validate (bug): %w", path, err)
	}
	res.Review = buildReview(res, thumbs, 1) // thumbnails are offered in source pixels
	return res, nil
}

// detectJob runs the worker's detector on one analysed frame and, when the
// job has a full-resolution picture, YuNet on it for the faces the
// analysis picture shows too small. It returns every box in source
// pixels, and the picture to cut thumbnails from with its source pixels a
// pixel.
func detectJob(det Detector, full **YuNet, opts DetectOptions, j *pictureJob) (found []Detection, thumbImg *Picture, thumbScale float64, err error) {
	found, err = det.Detect(j.img)
	if err != nil {
		return nil, nil, 0, err
	}
	f := j.scale
	for k := range found {
		d := &found[k]
		d.Box = Box{d.Box.X * f, d.Box.Y * f, d.Box.W * f, d.Box.H * f}
		for p := range d.Landmarks {
			d.Landmarks[p] = Point{d.Landmarks[p].X * f, d.Landmarks[p].Y * f}
		}
	}
	if j.full == nil {
		return found, j.img, j.scale, nil
	}
	if *full == nil {
		y, err := NewYuNet(opts.YuNet)
		if err != nil {
			return nil, nil, 0, err
		}
		*full = y
	}
	more, err := (*full).Detect(j.full)
	if err != nil {
		return nil, nil, 0, err
	}
	// The full pass covers only the faces the analysis picture shows too
	// small to be sure of (under 24 analysis pixels); larger ones are the
	// main passes' band, and a second look at them at full resolution
	// only adds false faces (an animal's face scoring higher on detail).
	limit := 24 * f
	for _, d := range more {
		if d.Box.H < limit {
			found = append(found, d)
		}
	}
	return mergeDetections(found, 0.3), j.full, 1, nil
}

// cutKeyframes limits a track's keyframes to [in, out]: keyframes outside
// are dropped and the box interpolated at a cut edge becomes a keyframe
// there, so the region covers exactly what it covered inside the range
// (tracking may carry a box back before the first analysed frame).
func cutKeyframes(ks []Keyframe, in, out float64) []Keyframe {
	if len(ks) == 0 || ks[len(ks)-1].Time < in || ks[0].Time > out {
		return nil
	}
	r := Region{Keyframes: ks}
	var cut []Keyframe
	at := func(t float64) {
		if b, ok := r.BoxAt(t); ok {
			cut = append(cut, Keyframe{Time: t, X: b.X, Y: b.Y, Width: b.W, Height: b.H})
		}
	}
	if ks[0].Time < in {
		at(in)
	}
	for _, k := range ks {
		if k.Time >= in && k.Time <= out && (len(cut) == 0 || k.Time > cut[len(cut)-1].Time) {
			cut = append(cut, k)
		}
	}
	if ks[len(ks)-1].Time > out && (len(cut) == 0 || cut[len(cut)-1].Time < out) {
		at(out)
	}
	return cut
}

func (o DetectOptions) sourceOr(path string) string {
	if o.Source != "" {
		return o.Source
	}
	return path
}

// ProposeSpec turns tracks into a spec with one automatic region each.
func ProposeSpec(source string, tracks []Track, opts DetectOptions) *Spec {
	opts = opts.withDefaults()
	s := &Spec{Version: SpecVersion, Clip: Clip{Source: source}}
	for i, t := range tracks {
		shape := opts.Shape
		if t.AtEdge {
			shape = ShapeRectangle // see Track.AtEdge
		}
		s.Regions = append(s.Regions, Region{
			ID:         fmt.Sprintf("face-%d", i+1),
			Shape:      shape,
			Effect:     opts.Effect,
			Reason:     opts.Reason,
			Origin:     OriginAuto,
			Confidence: math.Round(t.Confidence*1000) / 1000,
			Keyframes:  t.Keyframes,
		})
	}
	return s
}
