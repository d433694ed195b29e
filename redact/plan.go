package redact

import (
	"image"
	"math"
)

// Plan is a validated spec prepared for per-frame application. It holds
// scratch buffers, so a Plan is used by one goroutine at a time.
type Plan struct {
	spec    *Spec
	slate   slateBitmap
	scratch scratch
	// stats counts, per region / range ID, the frames (or samples) treated,
	// so the report states what was actually done, not what was asked.
	frames  map[string]int
	samples map[string]int64
	// sx, sy map spec (source) pixels to the frames ApplyVideo receives,
	// for renders scaled down (a preview); 0 means 1.
	sx, sy float64
}

// NewPlan prepares s (which must have passed Validate) for rendering.
func NewPlan(s *Spec) *Plan {
	p := &Plan{spec: s, frames: map[string]int{}, samples: map[string]int64{}}
	if s.Slate != nil {
		p.slate = renderSlateBitmap(s.Slate.Text)
	}
	return p
}

// scaleTo makes ApplyVideo draw on frames scaled by sx, sy from the
// source picture the spec's coordinates are in (a preview render).
func (p *Plan) scaleTo(sx, sy float64) {
	if sx == 1 && sy == 1 {
		sx, sy = 0, 0
	}
	p.sx, p.sy = sx, sy
}

// ApplyVideo obscures, in place, everything the spec asks for at source
// time t (seconds): each region whose window contains t, at its
// interpolated box; full-frame blurs; then the slate on top, so the slate
// stays legible. img must be the frame at t in limited-range Y'CbCr.
func (p *Plan) ApplyVideo(img *image.YCbCr, t float64) {
	for i := range p.spec.Regions {
		r := &p.spec.Regions[i]
		if !r.Rendered() {
			continue
		}
		b, ok := r.BoxAt(t)
		if !ok {
			continue
		}
		e := r.Effect
		if p.sx != 0 {
			b.X, b.Y, b.W, b.H = b.X*p.sx, b.Y*p.sy, b.W*p.sx, b.H*p.sy
			if e.Type == EffectPixelate {
				// Blocks shrink with the picture, so a preview looks like
				// the full render (blur strength is already relative).
				e.BlockSize = max(2, int(math.Round(float64(e.BlockSize)*min(p.sx, p.sy))))
			}
		}
		applyEffect(img, Box(b), r.Shape, effectParams{Effect: e}, &p.scratch)
		p.frames[r.ID]++
	}
	for _, f := range p.spec.FullFrameBlur {
		if t >= f.Start && t <= f.End {
			applyFullFrameBlur(img, f.Strength, &p.scratch)
			p.frames[f.ID]++
		}
	}
	if p.slateAt(t) {
		sl := p.spec.Slate
		size := sl.Size
		if p.sy != 0 && size > 0 {
			size = max(8, int(math.Round(float64(size)*p.sy)))
		}
		drawSlate(img, p.slate, size, sl.Position)
		p.frames["slate"]++
	}
}

// Active reports whether ApplyVideo would change a frame at time t, so
// the renderer copies shared frame buffers only when it has to. It uses
// the same predicates as ApplyVideo.
func (p *Plan) Active(t float64) bool {
	for i := range p.spec.Regions {
		r := &p.spec.Regions[i]
		if a, b := r.Window(); r.Rendered() && t >= a && t <= b {
			return true
		}
	}
	for _, f := range p.spec.FullFrameBlur {
		if t >= f.Start && t <= f.End {
			return true
		}
	}
	return p.slateAt(t)
}

func (p *Plan) slateAt(t float64) bool {
	sl := p.spec.Slate
	return sl != nil && (sl.Start == 0 && sl.End == 0 || t >= sl.Start && t <= sl.End)
}

// bleepAmplitude is the tone's peak (-12 dBFS): clearly audible, not
// painful.
const bleepAmplitude = 0.25

// ApplyAudio rewrites, in place, planar float samples (one slice per
// channel) whose first sample is at source time t0 and whose rate is
// sampleRate: samples inside a mute range become 0, samples inside a bleep
// range become the tone (a bleep wins where ranges overlap, so the listener
// hears that something was removed). A sample at time t is inside a range
// when start <= t <= end.
func (p *Plan) ApplyAudio(chans [][]float32, sampleRate int, t0 float64) {
	if len(chans) == 0 || sampleRate <= 0 {
		return
	}
	n := len(chans[0])
	sr := float64(sampleRate)
	t1 := t0 + float64(n-1)/sr
	for pass := 0; pass < 2; pass++ { // mutes first, then bleeps over them
		for _, a := range p.spec.Audio {
			if (pass == 0) != (a.Action == AudioMute) || a.End < t0 || a.Start > t1 {
				continue
			}
			// First and last sample index inside [Start, End].
			i0 := max(0, int(math.Ceil((a.Start-t0)*sr-1e-9)))
			i1 := min(n-1, int(math.Floor((a.End-t0)*sr+1e-9)))
			if i1 < i0 {
				continue
			}
			for _, ch := range chans {
				for i := i0; i <= i1; i++ {
					if a.Action == AudioMute {
						ch[i] = 0
					} else {
						ts := t0 + float64(i)/sr - a.Start
						ch[i] = float32(bleepAmplitude * math.Sin(2*math.Pi*a.Frequency*ts))
					}
				}
			}
			p.samples[a.ID] += int64(i1 - i0 + 1)
		}
	}
}

// FramesTreated reports how many video frames each region / full-frame
// blur (by ID) and the slate ("slate") were applied to so far.
func (p *Plan) FramesTreated() map[string]int { return p.frames }

// SamplesTreated reports how many audio samples (per channel) each audio
// range was applied to so far.
func (p *Plan) SamplesTreated() map[string]int64 { return p.samples }
