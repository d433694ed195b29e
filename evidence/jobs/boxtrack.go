package jobs

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/asticode/go-astiav"

	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/redact"
	"github.com/opendems/opendems/transcode"
)

// Box tracking: an officer draws a box around anything (a plate, a
// screen, a tattoo) on one frame; TrackBox follows it forward and backward
// through the clip by template matching on decoded luma frames and returns
// the keyframes of a region. It runs as the "track" redaction job (see
// RedactionWorker), so a long clip neither holds an HTTP request nor the
// frames of the whole clip:
//
//   - forward from the drawn frame, frames stream through the matcher one
//     at a time;
//   - backward, the range before the drawn frame is decoded in chunks of
//     ChunkFrames (seeking to the keyframe before each chunk), each chunk
//     matched from its end to its start;
//
// so memory is bounded by ChunkFrames downscaled luma pictures whatever
// the clip's length. The matcher is pure Go: normalized cross-correlation,
// coarse to fine around the position predicted from the last motion, with
// a three-step scale search (the box may grow or shrink by ScaleStep per
// matched frame) so an object coming closer or moving away stays covered.

// TrackRequest says what to track.
type TrackRequest struct {
	// Time is the source second of the frame the box was drawn on.
	Time float64
	// Box is the drawn box in source pixels (upright picture).
	Box redact.Box
	// From and To bound the tracking (source seconds); To 0 means the end.
	From, To float64
	// MaxWidth downscales frames for matching (480).
	MaxWidth int
	// FPS is the number of frames a second matched (10); keyframes are
	// kept where the motion bends.
	FPS float64
	// MinScore is the correlation below which the object counts as lost
	// and tracking stops in that direction (0.5).
	MinScore float64
	// ScaleStep is the largest change of the box's size from one matched
	// frame to the next (1.04, i.e. 4 %); FixedSize keeps the drawn size.
	ScaleStep float64
	FixedSize bool
	// ChunkFrames bounds the frames held in memory while tracking
	// backward (150: 15 s at 10 frames a second, about 20 MB at 480 px).
	ChunkFrames int
	// Progress, when set, is told how much of the range is tracked.
	Progress func(redact.Progress)
}

// TrackResult is the tracked box as region keyframes (the track job's
// output; its type is the request floor's, which the API documents).
type TrackResult = request.TrackResult

// ErrTrackInput is wrapped by errors about the request (box outside the
// picture, time outside the range).
var ErrTrackInput = errors.New("invalid tracking request")

// LumaFrame is one decoded, downscaled luma picture and its source time.
type LumaFrame struct {
	T   float64
	Img *image.Gray
}

func (r *TrackRequest) defaults() {
	if r.MaxWidth <= 0 {
		r.MaxWidth = 480
	}
	if r.FPS <= 0 {
		r.FPS = 10
	}
	if r.MinScore == 0 {
		r.MinScore = 0.5
	}
	if r.ScaleStep <= 1 {
		r.ScaleStep = 1.04
	}
	if r.FixedSize {
		r.ScaleStep = 1
	}
	if r.ChunkFrames <= 0 {
		r.ChunkFrames = 150
	}
}

// errStopDecode ends a decoding pass early (object lost, range done).
var errStopDecode = errors.New("stop decoding")

// TrackBox tracks req.Box, drawn on the frame shown at req.Time, forward
// to req.To and backward to req.From in the video of path.
func TrackBox(ctx context.Context, path string, req TrackRequest) (*TrackResult, error) {
	req.defaults()
	if req.Box.W < 4 || req.Box.H < 4 {
		return nil, fmt.Errorf("%w: box must be at least 4×4 pixels", ErrTrackInput)
	}
	if req.Time < req.From || (req.To > 0 && req.Time > req.To) {
		return nil, fmt.Errorf("%w: time %.3f outside %.3f..%.3f", ErrTrackInput, req.Time, req.From, req.To)
	}
	media, err := redact.Probe(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("track %s: %w", path, err)
	}
	if !media.HasVideo {
		return nil, fmt.Errorf("track %s: %w", path, transcode.ErrNoVideo)
	}
	src := &lumaSource{path: path, rotation: media.Rotation, maxWidth: req.MaxWidth}
	end := req.To
	if end <= 0 || end > media.Duration {
		end = media.Duration
	}
	total := 0.0
	if !math.IsInf(end, 1) {
		total = end - req.From
	}
	var fwdDone, bwdDone float64
	report := func() {
		if req.Progress != nil {
			req.Progress(redact.Progress{Done: fwdDone + bwdDone, Total: total})
		}
	}
	step := 1/req.FPS - 1e-3

	// Forward: find the frame shown at req.Time (the last one at or before
	// it), start there, then match every step-th second.
	var start *LumaFrame
	var fwd *follower
	var fwdPts []TrackPoint
	var scale float64
	next := 0.0
	begin := func(lf LumaFrame) error {
		scale = src.scale
		b := Rect{X: req.Box.X / scale, Y: req.Box.Y / scale, W: req.Box.W / scale, H: req.Box.H / scale}
		bounds := lf.Img.Bounds()
		if b.X < -0.5 || b.Y < -0.5 || b.X+b.W > float64(bounds.Dx())+0.5 || b.Y+b.H > float64(bounds.Dy())+0.5 {
			return fmt.Errorf("%w: box (%.0f,%.0f %.0f×%.0f) is not inside the picture", ErrTrackInput, req.Box.X, req.Box.Y, req.Box.W, req.Box.H)
		}
		start = &lf
		fwd = newFollower(lf.Img, b, req.MinScore, req.ScaleStep)
		next = lf.T + step
		return nil
	}
	var cand *LumaFrame
	err = src.decode(ctx, math.Max(req.From, req.Time-1), req.To, func(t float64) bool { return fwd == nil || t >= next }, func(lf LumaFrame) error {
		if fwd == nil {
			if lf.T <= req.Time+1e-3 || cand == nil {
				c := lf
				cand = &c
				if lf.T <= req.Time+1e-3 {
					return nil
				}
			}
			if err := begin(*cand); err != nil {
				return err
			}
			if cand.T == lf.T {
				return nil
			}
		}
		if lf.T < next {
			return nil
		}
		next = lf.T + step
		b, score, ok := fwd.step(lf.Img)
		if !ok {
			return errStopDecode
		}
		fwdPts = append(fwdPts, TrackPoint{T: lf.T, Box: b, Score: score})
		fwdDone = lf.T - start.T
		report()
		return nil
	})
	if err == nil && fwd == nil && cand != nil {
		err = begin(*cand)
	}
	if err != nil {
		return nil, err
	}
	if start == nil {
		return nil, fmt.Errorf("%w: no frames between %.3f and %.3f", ErrTrackInput, req.From, end)
	}

	// Backward, chunk by chunk, from the start frame to req.From.
	b0 := Rect{X: req.Box.X / scale, Y: req.Box.Y / scale, W: req.Box.W / scale, H: req.Box.H / scale}
	bwd := newFollower(start.Img, b0, req.MinScore, req.ScaleStep)
	var bwdPts []TrackPoint // in reverse time order
	chunkSeconds := float64(req.ChunkFrames) / req.FPS
	for until, alive := start.T, true; alive && until > req.From+1e-3; {
		from := math.Max(req.From, until-chunkSeconds)
		var chunk []LumaFrame
		nxt := from
		err := src.decode(ctx, from, until, func(t float64) bool { return t < until-1e-3 && t >= nxt }, func(lf LumaFrame) error {
			if lf.T >= until-1e-3 || lf.T < nxt {
				return nil
			}
			// At most chunkSeconds/step+1 ≈ ChunkFrames frames: sampling
			// keeps them at least a step apart.
			nxt = lf.T + step
			chunk = append(chunk, lf)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(chunk) == 0 {
			break
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			b, score, ok := bwd.step(chunk[i].Img)
			if !ok {
				alive = false
				break
			}
			bwdPts = append(bwdPts, TrackPoint{T: chunk[i].T, Box: b, Score: score})
			bwdDone = start.T - chunk[i].T
			report()
		}
		until = chunk[0].T
	}

	pts := make([]TrackPoint, 0, len(bwdPts)+1+len(fwdPts))
	for i := len(bwdPts) - 1; i >= 0; i-- {
		pts = append(pts, bwdPts[i])
	}
	pts = append(pts, TrackPoint{T: start.T, Box: b0, Score: 1})
	pts = append(pts, fwdPts...)
	res := &TrackResult{Frames: len(pts), MinScale: 1, MaxScale: 1}
	ks := make([]redact.Keyframe, len(pts))
	for i, p := range pts {
		ks[i] = redact.Keyframe{Time: p.T, X: p.Box.X * scale, Y: p.Box.Y * scale, Width: p.Box.W * scale, Height: p.Box.H * scale}
		if p.T == start.T {
			// The drawn box is exact on the frame it was drawn on.
			ks[i] = redact.Keyframe{Time: p.T, X: req.Box.X, Y: req.Box.Y, Width: req.Box.W, Height: req.Box.H}
		}
		s := p.Box.W / b0.W
		res.MinScale, res.MaxScale = math.Min(res.MinScale, s), math.Max(res.MaxScale, s)
	}
	res.Keyframes = Simplify(ks, 1.5*scale)
	res.Start, res.End = ks[0].Time, ks[len(ks)-1].Time
	return res, nil
}

// lumaSource decodes a file's video as upright, downscaled 8-bit luma.
type lumaSource struct {
	path     string
	rotation int
	maxWidth int
	// scale is source pixels per returned pixel (set by the first frame).
	scale float64
}

// decode passes the frames with from <= t <= to (to 0: the end) for which
// want(t) holds to fn, in time order, each a fresh picture. It seeks to
// the keyframe before from; if the demuxer lands after it, it decodes
// from the start instead. fn may return errStopDecode to end early.
func (s *lumaSource) decode(ctx context.Context, from, to float64, want func(t float64) bool, fn func(LumaFrame) error) error {
	err := s.decodeOnce(ctx, from, to, want, fn, true)
	if errors.Is(err, errSeekLate) {
		err = s.decodeOnce(ctx, from, to, want, fn, false)
	}
	return err
}

// errSeekLate: after the seek the first frame was already past from.
var errSeekLate = errors.New("seek landed after the range start")

// seekMargin is how far before a range the decoder seeks, so the keyframe
// found precedes the range even with a coarse index.
const seekMargin = 2.0

func (s *lumaSource) decodeOnce(ctx context.Context, from, to float64, want func(t float64) bool, fn func(LumaFrame) error, seek bool) error {
	c := transcode.NewCloser()
	defer c.Close()
	in, err := transcode.OpenInput(ctx, c, s.path)
	if err != nil {
		return fmt.Errorf("track %s: %w", s.path, err)
	}
	if in.Video == nil {
		return fmt.Errorf("track %s: %w", s.path, transcode.ErrNoVideo)
	}
	dec, err := transcode.NewDecoder(c, in, in.Video, 0)
	if err != nil {
		return fmt.Errorf("track %s: %w", s.path, err)
	}
	// Source time 0 is the container's start, as for the renderer.
	origin := 0.0
	if st := in.FormatContext.StartTime(); st != astiav.NoPtsValue && st > 0 {
		origin = float64(st) / float64(astiav.TimeBase)
	}
	checkSeek := false
	if seek && from > seekMargin {
		ts := int64((from + origin - seekMargin) * float64(astiav.TimeBase))
		checkSeek = in.FormatContext.SeekFrame(-1, ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)) == nil
	}
	first := true
	var graph *transcode.FilterGraph
	err = transcode.DecodeStreams(c, in, []*transcode.Decoder{dec}, func(d *transcode.Decoder, f *astiav.Frame) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		tb := d.TimeBase()
		t := float64(f.Pts()*int64(tb.Num()))/float64(tb.Den()) - origin
		if first {
			first = false
			if checkSeek && t > from+1e-3 {
				return errSeekLate
			}
		}
		if t < from-1e-6 || !want(t) {
			return nil
		}
		if to > 0 && t > to+1e-6 {
			return errStopDecode
		}
		if graph == nil {
			fw, fh := f.Width(), f.Height()
			if s.rotation == 90 || s.rotation == 270 {
				fw, fh = fh, fw
			}
			factor := max(1, (fw+s.maxWidth-1)/s.maxWidth)
			w, h := max(1, fw/factor), max(1, fh/factor)
			s.scale = float64(fw) / float64(w)
			spec := fmt.Sprintf("scale=%d:%d:flags=area,format=gray", w, h)
			if rot := transcode.RotationFilter(s.rotation); rot != "" {
				spec = rot + "," + spec
			}
			g, err := transcode.NewVideoFilter(c, transcode.VideoSourceOf(f, tb), spec, 1)
			if err != nil {
				return err
			}
			graph = g
		}
		return graph.Push(f, func(g *astiav.Frame) error {
			img := image.NewGray(image.Rect(0, 0, g.Width(), g.Height()))
			if err := g.Data().ToImage(img); err != nil {
				return fmt.Errorf("luma frame: %w", err)
			}
			return fn(LumaFrame{T: t, Img: img})
		})
	})
	if errors.Is(err, errSeekLate) {
		return err
	}
	if err != nil && !errors.Is(err, errStopDecode) {
		if errors.Is(err, ErrTrackInput) {
			return err
		}
		return fmt.Errorf("track %s: decode: %w", s.path, err)
	}
	return nil
}

// Rect is a box in analysed pixels.
type Rect struct{ X, Y, W, H float64 }

// TrackPoint is the tracked box at one frame.
type TrackPoint struct {
	T     float64
	Box   Rect
	Score float64
}

// follower follows one patch from frame to frame. The template keeps the
// drawn box's size in pixels (tw×th); a candidate box of scale s is
// compared by sampling it on the template's grid, so a box that grew or
// shrank is compared like for like. The template adapts slowly (a fifth
// of each new match) so lighting changes do not lose the object while
// drift stays small.
type follower struct {
	tmpl      []float64
	tw, th    int
	cx, cy, s float64 // centre and scale of the box in the last frame
	vx, vy    float64 // smoothed motion per matched frame
	minScore  float64
	scaleStep float64 // 1: fixed size
}

func newFollower(img *image.Gray, b Rect, minScore, scaleStep float64) *follower {
	f := &follower{tw: max(1, int(math.Round(b.W))), th: max(1, int(math.Round(b.H))),
		cx: b.X + b.W/2, cy: b.Y + b.H/2, s: 1, minScore: minScore, scaleStep: scaleStep}
	f.tmpl = f.sample(img, f.cx, f.cy, 1)
	return f
}

// box is the current box.
func (f *follower) box() Rect {
	w, h := float64(f.tw)*f.s, float64(f.th)*f.s
	return Rect{X: f.cx - w/2, Y: f.cy - h/2, W: w, H: h}
}

// step finds the patch in img near the predicted position: a coarse grid
// over the search radius, halving the step around the best, then a fine
// pass over ±1 pixel and the three scales s/k, s, s·k. It reports false
// when the best correlation falls below minScore.
func (f *follower) step(img *image.Gray) (Rect, float64, bool) {
	size := math.Max(float64(f.tw), float64(f.th)) * f.s
	radius := math.Max(8, 0.6*size)
	coarse := max(2, int(math.Sqrt(float64(f.tw*f.th)/256)))
	fine := max(1, coarse/2)
	ps := math.Max(2, math.Round(radius/8))
	px, py := f.cx+f.vx, f.cy+f.vy
	best, bx, by := -2.0, px, py
	for dy := -radius; dy <= radius; dy += ps {
		for dx := -radius; dx <= radius; dx += ps {
			if sc := f.ncc(img, px+dx, py+dy, f.s, coarse); sc > best {
				best, bx, by = sc, px+dx, py+dy
			}
		}
	}
	for ps > 1 {
		ps = math.Ceil(ps / 2)
		cx, cy := bx, by
		for dy := -ps; dy <= ps; dy += ps {
			for dx := -ps; dx <= ps; dx += ps {
				if sc := f.ncc(img, cx+dx, cy+dy, f.s, coarse); sc > best {
					best, bx, by = sc, cx+dx, cy+dy
				}
			}
		}
	}
	scales := []float64{f.s}
	if f.scaleStep > 1 {
		scales = append(scales, f.s/f.scaleStep, f.s*f.scaleStep)
	}
	best = -2
	bs := f.s
	cx, cy := bx, by
	for _, s := range scales {
		if s < 0.2 || s > 5 || float64(min(f.tw, f.th))*s < 4 {
			continue
		}
		for dy := -1.0; dy <= 1; dy++ {
			for dx := -1.0; dx <= 1; dx++ {
				sc := f.ncc(img, cx+dx, cy+dy, s, fine)
				// A new scale must match clearly better: correlation
				// alone drifts towards whatever part of the patch is
				// most textured.
				if s != f.s {
					sc -= 0.005
				}
				if sc > best {
					best, bx, by, bs = sc, cx+dx, cy+dy, s
				}
			}
		}
	}
	if best < f.minScore {
		return Rect{}, best, false
	}
	bx, by = f.clamp(img, bx, by, bs)
	f.vx, f.vy = 0.5*f.vx+0.5*(bx-f.cx), 0.5*f.vy+0.5*(by-f.cy)
	f.cx, f.cy, f.s = bx, by, bs
	cur := f.sample(img, bx, by, bs)
	for k := range f.tmpl {
		f.tmpl[k] = 0.8*f.tmpl[k] + 0.2*cur[k]
	}
	return f.box(), best, true
}

// clamp keeps the box's centre where the whole box lies in the picture
// (or centred, for a box larger than the picture).
func (f *follower) clamp(img *image.Gray, cx, cy, s float64) (float64, float64) {
	b := img.Bounds()
	hw, hh := float64(f.tw)*s/2, float64(f.th)*s/2
	c := func(v, lo, hi float64) float64 {
		if lo > hi {
			return (lo + hi) / 2
		}
		return math.Min(math.Max(v, lo), hi)
	}
	return c(cx, float64(b.Min.X)+hw, float64(b.Max.X)-hw), c(cy, float64(b.Min.Y)+hh, float64(b.Max.Y)-hh)
}

// sample reads the tw×th grid of the box centred at (cx, cy) with scale
// s (nearest pixel, clamped to the picture).
func (f *follower) sample(img *image.Gray, cx, cy, s float64) []float64 {
	out := make([]float64, f.tw*f.th)
	x0, y0 := cx-float64(f.tw)*s/2, cy-float64(f.th)*s/2
	b := img.Bounds()
	for j := 0; j < f.th; j++ {
		yy := min(max(int(y0+(float64(j)+0.5)*s), b.Min.Y), b.Max.Y-1)
		row := img.Pix[(yy-b.Min.Y)*img.Stride:]
		for i := 0; i < f.tw; i++ {
			xx := min(max(int(x0+(float64(i)+0.5)*s), b.Min.X), b.Max.X-1)
			out[j*f.tw+i] = float64(row[xx-b.Min.X])
		}
	}
	return out
}

// ncc is the normalized cross-correlation of the template with the box
// centred at (cx, cy) at scale s, sampling every step-th template pixel
// (-1..1; 0 for a flat block). The centre is clamped into the picture
// first, as step will place it.
func (f *follower) ncc(img *image.Gray, cx, cy, s float64, step int) float64 {
	cx, cy = f.clamp(img, cx, cy, s)
	x0, y0 := cx-float64(f.tw)*s/2, cy-float64(f.th)*s/2
	b := img.Bounds()
	var sa, sb, saa, sbb, sab, n float64
	for j := 0; j < f.th; j += step {
		yy := min(max(int(y0+(float64(j)+0.5)*s), b.Min.Y), b.Max.Y-1)
		row := img.Pix[(yy-b.Min.Y)*img.Stride:]
		for i := 0; i < f.tw; i += step {
			xx := min(max(int(x0+(float64(i)+0.5)*s), b.Min.X), b.Max.X-1)
			a := f.tmpl[j*f.tw+i]
			v := float64(row[xx-b.Min.X])
			sa += a
			sb += v
			saa += a * a
			sbb += v * v
			sab += a * v
			n++
		}
	}
	cov := sab - sa*sb/n
	va, vb := saa-sa*sa/n, sbb-sb*sb/n
	if va <= 1e-9 || vb <= 1e-9 {
		return 0
	}
	return cov / math.Sqrt(va*vb)
}

// Simplify drops keyframes that linear interpolation between their
// neighbours reproduces within tol pixels (Douglas-Peucker over time), so
// a region stays editable: a keyframe wherever the motion bends.
func Simplify(ks []redact.Keyframe, tol float64) []redact.Keyframe {
	if len(ks) <= 2 {
		return ks
	}
	keep := make([]bool, len(ks))
	keep[0], keep[len(ks)-1] = true, true
	var rec func(a, b int)
	rec = func(a, b int) {
		worst, at := 0.0, -1
		for i := a + 1; i < b; i++ {
			f := (ks[i].Time - ks[a].Time) / (ks[b].Time - ks[a].Time)
			lerp := func(p, q float64) float64 { return p + (q-p)*f }
			d := math.Max(math.Max(math.Abs(ks[i].X-lerp(ks[a].X, ks[b].X)), math.Abs(ks[i].Y-lerp(ks[a].Y, ks[b].Y))),
				math.Max(math.Abs(ks[i].Width-lerp(ks[a].Width, ks[b].Width)), math.Abs(ks[i].Height-lerp(ks[a].Height, ks[b].Height))))
			if d > worst {
				worst, at = d, i
			}
		}
		if at >= 0 && worst > tol {
			keep[at] = true
			rec(a, at)
			rec(at, b)
		}
	}
	rec(0, len(ks)-1)
	out := make([]redact.Keyframe, 0, len(ks))
	for i, k := range ks {
		if keep[i] {
			out = append(out, k)
		}
	}
	return out
}
