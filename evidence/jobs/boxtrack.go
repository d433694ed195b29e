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
// the keyframes of a region. Pure Go matching (normalized cross-correlation,
// coarse to fine) over frames decoded in-process by package transcode; no
// external service.

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
	// MaxFrames bounds the frames held in memory (1200).
	MaxFrames int
}

// TrackResult is the tracked box as region keyframes (the API answers it:
// its type is the request floor's).
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
	if r.MaxFrames <= 0 {
		r.MaxFrames = 1200
	}
}

// TrackBox decodes path between req.From and req.To and tracks req.Box
// from req.Time forward and backward.
func TrackBox(ctx context.Context, path string, req TrackRequest) (*TrackResult, error) {
	req.defaults()
	if req.Box.W < 4 || req.Box.H < 4 {
		return nil, fmt.Errorf("%w: box must be at least 4×4 pixels", ErrTrackInput)
	}
	if req.To > 0 && (req.Time < req.From || req.Time > req.To) {
		return nil, fmt.Errorf("%w: time %.3f outside %.3f..%.3f", ErrTrackInput, req.Time, req.From, req.To)
	}
	frames, scale, err := DecodeLuma(ctx, path, req.From, req.To, req.MaxWidth, req.FPS, req.MaxFrames)
	if err != nil {
		return nil, err
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("%w: no frames between %.3f and %.3f", ErrTrackInput, req.From, req.To)
	}
	start := 0
	for i, f := range frames {
		if math.Abs(f.T-req.Time) < math.Abs(frames[start].T-req.Time) {
			start = i
		}
	}
	b := Rect{X: req.Box.X / scale, Y: req.Box.Y / scale, W: req.Box.W / scale, H: req.Box.H / scale}
	img := frames[0].Img.Bounds()
	if b.X < 0 || b.Y < 0 || b.X+b.W > float64(img.Dx())+0.5 || b.Y+b.H > float64(img.Dy())+0.5 {
		return nil, fmt.Errorf("%w: box (%.0f,%.0f %.0f×%.0f) is not inside the picture", ErrTrackInput, req.Box.X, req.Box.Y, req.Box.W, req.Box.H)
	}
	pts := TrackTemplate(frames, start, b, req.MinScore)
	res := &TrackResult{Frames: len(pts)}
	ks := make([]redact.Keyframe, len(pts))
	for i, p := range pts {
		ks[i] = redact.Keyframe{Time: p.T, X: p.Box.X * scale, Y: p.Box.Y * scale, Width: p.Box.W * scale, Height: p.Box.H * scale}
	}
	// The drawn box is exact at the drawn time.
	for i := range ks {
		if pts[i].T == frames[start].T {
			ks[i] = redact.Keyframe{Time: req.Time, X: req.Box.X, Y: req.Box.Y, Width: req.Box.W, Height: req.Box.H}
		}
	}
	res.Keyframes = Simplify(ks, 1.5*scale)
	res.Start, res.End = ks[0].Time, ks[len(ks)-1].Time
	return res, nil
}

// DecodeLuma decodes the video of path between from and to (source
// seconds; to 0: the end) at about fps frames a second, rotated upright
// and downscaled by an integer factor to at most maxWidth, as 8-bit luma.
// scale is source pixels per returned pixel.
func DecodeLuma(ctx context.Context, path string, from, to float64, maxWidth int, fps float64, maxFrames int) (frames []LumaFrame, scale float64, err error) {
	c := transcode.NewCloser()
	defer c.Close()
	in, err := transcode.OpenInput(ctx, c, path)
	if err != nil {
		return nil, 0, err
	}
	if in.Video == nil {
		return nil, 0, fmt.Errorf("track %s: %w", path, transcode.ErrNoVideo)
	}
	dec, err := transcode.NewDecoder(c, in, in.Video, 0)
	if err != nil {
		return nil, 0, err
	}
	rotation := 0
	if media, err := redact.Probe(ctx, path); err == nil {
		rotation = media.Rotation
	}
	start := 0.0
	if st := in.Video.StartTime(); st != astiav.NoPtsValue {
		start = float64(st) * in.Video.TimeBase().Float64()
	}
	var graph *transcode.FilterGraph
	next := from
	errFull := errors.New("enough frames")
	err = transcode.DecodeStreams(c, in, []*transcode.Decoder{dec}, func(d *transcode.Decoder, f *astiav.Frame) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := float64(f.Pts())*d.TimeBase().Float64() - start
		if t < from-1e-6 || t+1e-6 < next {
			return nil
		}
		if to > 0 && t > to+1e-6 {
			return errFull
		}
		next = t + 1/fps - 1e-3
		if graph == nil {
			fw, fh := f.Width(), f.Height()
			if rotation == 90 || rotation == 270 {
				fw, fh = fh, fw
			}
			factor := max(1, (fw+maxWidth-1)/maxWidth)
			w, h := max(1, fw/factor), max(1, fh/factor)
			scale = float64(fw) / float64(w)
			spec := fmt.Sprintf("scale=%d:%d:flags=area,format=gray", w, h)
			if rot := transcode.RotationFilter(rotation); rot != "" {
				spec = rot + "," + spec
			}
			g, err := transcode.NewVideoFilter(c, transcode.VideoSourceOf(f, d.TimeBase()), spec, 1)
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
			frames = append(frames, LumaFrame{T: t, Img: img})
			if len(frames) >= maxFrames {
				return errFull
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, 0, fmt.Errorf("track %s: decode: %w", path, err)
	}
	return frames, scale, nil
}

// Rect is a box in analysed pixels.
type Rect struct{ X, Y, W, H float64 }

// TrackPoint is the tracked box at one frame.
type TrackPoint struct {
	T     float64
	Box   Rect
	Score float64
}

// TrackTemplate follows the patch under box in frames[start] forward and
// backward. In each frame it searches around the position predicted from
// the last motion, first on a half-resolution image, then refines; the
// template adapts slowly (a fifth of the new match) so lighting changes do
// not lose the object while drift stays small. Tracking stops in a
// direction when the best correlation falls below minScore.
func TrackTemplate(frames []LumaFrame, start int, box Rect, minScore float64) []TrackPoint {
	first := TrackPoint{T: frames[start].T, Box: box, Score: 1}
	fwd := trackDir(frames, start, box, minScore, 1)
	bwd := trackDir(frames, start, box, minScore, -1)
	out := make([]TrackPoint, 0, len(fwd)+len(bwd)+1)
	for i := len(bwd) - 1; i >= 0; i-- {
		out = append(out, bwd[i])
	}
	out = append(out, first)
	return append(out, fwd...)
}

func trackDir(frames []LumaFrame, start int, box Rect, minScore float64, dir int) []TrackPoint {
	w, h := int(math.Round(box.W)), int(math.Round(box.H))
	tmpl := patch(frames[start].Img, int(math.Round(box.X)), int(math.Round(box.Y)), w, h)
	x, y := box.X, box.Y
	vx, vy := 0.0, 0.0
	var out []TrackPoint
	for i := start + dir; i >= 0 && i < len(frames); i += dir {
		img := frames[i].Img
		px, py := x+vx, y+vy
		radius := int(math.Max(8, 0.6*math.Max(box.W, box.H)))
		bx, by, score := search(img, tmpl, w, h, int(math.Round(px)), int(math.Round(py)), radius)
		if score < minScore {
			break
		}
		nx, ny := float64(bx), float64(by)
		vx, vy = 0.5*vx+0.5*(nx-x), 0.5*vy+0.5*(ny-y)
		x, y = nx, ny
		out = append(out, TrackPoint{T: frames[i].T, Box: Rect{X: x, Y: y, W: box.W, H: box.H}, Score: score})
		cur := patch(img, bx, by, w, h)
		for k := range tmpl {
			tmpl[k] = 0.8*tmpl[k] + 0.2*cur[k]
		}
	}
	return out
}

// patch copies the w×h luma block at (x, y), clamped to the picture.
func patch(img *image.Gray, x, y, w, h int) []float64 {
	b := img.Bounds()
	out := make([]float64, w*h)
	for j := 0; j < h; j++ {
		yy := min(max(y+j, b.Min.Y), b.Max.Y-1)
		for i := 0; i < w; i++ {
			xx := min(max(x+i, b.Min.X), b.Max.X-1)
			out[j*w+i] = float64(img.Pix[(yy-b.Min.Y)*img.Stride+(xx-b.Min.X)])
		}
	}
	return out
}

// search finds the top-left corner near (px, py) whose block best matches
// tmpl by normalized cross-correlation: a coarse pass on every second
// position with every second pixel, then a full refinement around the best.
func search(img *image.Gray, tmpl []float64, w, h, px, py, radius int) (int, int, float64) {
	b := img.Bounds()
	clampX := func(x int) int { return min(max(x, b.Min.X), b.Max.X-w) }
	clampY := func(y int) int { return min(max(y, b.Min.Y), b.Max.Y-h) }
	best, bx, by := -2.0, clampX(px), clampY(py)
	for dy := -radius; dy <= radius; dy += 2 {
		for dx := -radius; dx <= radius; dx += 2 {
			x, y := clampX(px+dx), clampY(py+dy)
			if s := ncc(img, tmpl, w, h, x, y, 2); s > best {
				best, bx, by = s, x, y
			}
		}
	}
	cx, cy := bx, by
	best = -2
	for dy := -2; dy <= 2; dy++ {
		for dx := -2; dx <= 2; dx++ {
			x, y := clampX(cx+dx), clampY(cy+dy)
			if s := ncc(img, tmpl, w, h, x, y, 1); s > best {
				best, bx, by = s, x, y
			}
		}
	}
	return bx, by, best
}

// ncc is the normalized cross-correlation of tmpl with the block at
// (x, y), sampling every step-th pixel (-1..1; 0 for a flat block).
func ncc(img *image.Gray, tmpl []float64, w, h, x, y, step int) float64 {
	var sa, sb, saa, sbb, sab, n float64
	for j := 0; j < h; j += step {
		row := img.Pix[(y+j-img.Rect.Min.Y)*img.Stride+(x-img.Rect.Min.X):]
		for i := 0; i < w; i += step {
			a := tmpl[j*w+i]
			v := float64(row[i])
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
