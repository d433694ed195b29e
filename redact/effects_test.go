package redact

import (
	"image"
	"math"
	"testing"
)

// newTestFrame returns a 4:2:0 frame filled with high-contrast texture, so
// any effect that fails to obscure shows up as surviving variance.
func newTestFrame(w, h int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	seed := uint32(12345)
	rnd := func() uint8 { seed = seed*1664525 + 1013904223; return uint8(seed >> 24) }
	for i := range img.Y {
		img.Y[i] = rnd()
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = rnd(), rnd()
	}
	return img
}

func cloneFrame(img *image.YCbCr) *image.YCbCr {
	c := *img
	c.Y = append([]uint8(nil), img.Y...)
	c.Cb = append([]uint8(nil), img.Cb...)
	c.Cr = append([]uint8(nil), img.Cr...)
	return &c
}

// stats returns the mean and standard deviation of the luma in r.
func stats(img *image.YCbCr, r image.Rectangle) (mean, sd float64) {
	var s, s2, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := float64(img.Y[y*img.YStride+x])
			s += v
			s2 += v * v
			n++
		}
	}
	mean = s / n
	return mean, math.Sqrt(s2/n - mean*mean)
}

// changedOutside counts luma and chroma samples outside (luma) rectangle r
// that differ between a and b.
func changedOutside(a, b *image.YCbCr, r image.Rectangle) int {
	n := 0
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			if !(image.Point{x, y}).In(r) && a.Y[y*a.YStride+x] != b.Y[y*b.YStride+x] {
				n++
			}
		}
	}
	cr := image.Rect(r.Min.X/2, r.Min.Y/2, (r.Max.X+1)/2, (r.Max.Y+1)/2)
	for y := 0; y < (a.Rect.Dy()+1)/2; y++ {
		for x := 0; x < (a.Rect.Dx()+1)/2; x++ {
			i := y*a.CStride + x
			if !(image.Point{x, y}).In(cr) && (a.Cb[i] != b.Cb[i] || a.Cr[i] != b.Cr[i]) {
				n++
			}
		}
	}
	return n
}

func TestEffectsObscureOnlyTheBox(t *testing.T) {
	box := Box{X: 33.5, Y: 21.25, W: 60, H: 50}
	cover := image.Rect(33, 21, 94, 72) // floor / ceil of the box
	tests := []struct {
		name   string
		shape  Shape
		effect Effect
		maxSD  float64
	}{
		{"blur", ShapeRectangle, Effect{Type: EffectBlur, Strength: 40}, 8},
		{"blur ellipse", ShapeEllipse, Effect{Type: EffectBlur, Strength: 40}, 8},
		{"pixelate", ShapeRectangle, Effect{Type: EffectPixelate, BlockSize: 16}, 40},
		{"fill", ShapeRectangle, Effect{Type: EffectFill, Color: "#000000"}, 0},
		{"fill ellipse", ShapeEllipse, Effect{Type: EffectFill, Color: "#ffffff"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newTestFrame(160, 120)
			img := cloneFrame(src)
			var s scratch
			applyEffect(img, box, tt.shape, effectParams{Effect: tt.effect}, &s)
			if n := changedOutside(src, img, cover); n != 0 {
				t.Errorf("%d samples changed outside the box", n)
			}
			// The core of the box (inside the ellipse too) is obscured.
			core := image.Rect(50, 35, 78, 58)
			_, sdSrc := stats(src, core)
			_, sd := stats(img, core)
			if sd > tt.maxSD || sdSrc < 60 {
				t.Errorf("texture survives: sd %.1f (source %.1f), want <= %.1f", sd, sdSrc, tt.maxSD)
			}
			if tt.shape == ShapeEllipse {
				// Box corners lie outside the ellipse: untouched.
				for _, p := range []image.Point{{34, 22}, {92, 22}, {34, 70}, {92, 70}} {
					i := p.Y*img.YStride + p.X
					if img.Y[i] != src.Y[i] {
						t.Errorf("ellipse changed corner %v", p)
					}
				}
			}
		})
	}
}

func TestFillColour(t *testing.T) {
	img := newTestFrame(64, 64)
	var s scratch
	applyEffect(img, Box{0, 0, 64, 64}, ShapeRectangle, effectParams{Effect: Effect{Type: EffectFill, Color: "#000000"}}, &s)
	for i, v := range img.Y {
		if v != 16 {
			t.Fatalf("Y[%d] = %d, want 16 (black)", i, v)
		}
	}
	for i := range img.Cb {
		if img.Cb[i] != 128 || img.Cr[i] != 128 {
			t.Fatalf("chroma[%d] = %d,%d want 128,128", i, img.Cb[i], img.Cr[i])
		}
	}
}

func TestPixelateBlocksAreUniform(t *testing.T) {
	img := newTestFrame(64, 64)
	var s scratch
	applyEffect(img, Box{8, 8, 32, 32}, ShapeRectangle, effectParams{Effect: Effect{Type: EffectPixelate, BlockSize: 16}}, &s)
	for by := 8; by < 40; by += 16 {
		for bx := 8; bx < 40; bx += 16 {
			v := img.Y[by*img.YStride+bx]
			for y := by; y < by+16; y++ {
				for x := bx; x < bx+16; x++ {
					if img.Y[y*img.YStride+x] != v {
						t.Fatalf("block at %d,%d not uniform", bx, by)
					}
				}
			}
		}
	}
}

func TestBoxBlurPreservesFlat(t *testing.T) {
	// A flat area stays exactly flat (no drift from rounding or edges).
	src := []uint32{7, 7, 7, 7, 7, 7}
	dst := make([]uint32, 6)
	boxLines(src, dst, 6, 1, 1, 6, 4)
	for i, v := range dst {
		if v != 7 {
			t.Fatalf("dst[%d] = %d", i, v)
		}
	}
	// Against a direct computation with clamped edges.
	src = []uint32{0, 10, 20, 30, 40, 250, 3}
	boxLines(src, dst[:0:0], 0, 0, 1, 7, 1) // zero lines: no-op
	dst = make([]uint32, 7)
	boxLines(src, dst, 7, 1, 1, 7, 2)
	for i := range src {
		var sum uint32
		for j := i - 2; j <= i+2; j++ {
			sum += src[min(max(j, 0), 6)]
		}
		if want := (sum + 2) / 5; dst[i] != want {
			t.Errorf("dst[%d] = %d want %d", i, dst[i], want)
		}
	}
}

func TestBoxColumnsMatchesBoxLines(t *testing.T) {
	const w, h = 7, 13
	src := make([]uint32, w*h)
	src8 := make([]uint8, w*h)
	for i := range src {
		src[i] = uint32(i * 37 % 251)
		src8[i] = uint8(src[i])
	}
	check := func(name string, rad int, want []uint32, got []uint8) {
		t.Helper()
		for i := range want {
			if uint32(got[i]) != want[i] {
				t.Fatalf("%s rad %d: element %d = %d, want %d", name, rad, i, got[i], want[i])
			}
		}
	}
	for _, rad := range []int{1, 2, 3, 5, 6, 12} {
		want := make([]uint32, w*h)
		got := make([]uint8, w*h)
		boxLines(src, want, h, w, w, 1, rad) // columns, reference
		boxColumns(src8, got, w, h, rad, make([]uint32, w))
		check("columns", rad, want, got)
		boxLines(src, want, w, h, 1, w, rad) // rows, reference
		boxRows(src8, got, w, h, rad)
		check("rows", rad, want, got)
	}
}

func TestPlanWindowsAreInclusive(t *testing.T) {
	s, err := Parse([]byte(`{"version":1,"clip":{"source":"x"},"regions":[{"shape":"rectangle","effect":{"type":"fill"},"reason":"r","origin":"manual",
	 "keyframes":[{"time":1,"x":0,"y":0,"width":8,"height":8},{"time":2,"x":8,"y":8,"width":8,"height":8}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := NewPlan(s)
	for _, tt := range []struct {
		t       float64
		touched bool
	}{{0.99, false}, {1, true}, {1.5, true}, {2, true}, {2.01, false}} {
		src := newTestFrame(32, 32)
		img := cloneFrame(src)
		p.ApplyVideo(img, tt.t)
		if p.Active(tt.t) != tt.touched {
			t.Errorf("t=%g Active=%v want %v", tt.t, p.Active(tt.t), tt.touched)
		}
		if got := changedOutside(src, img, image.Rect(0, 0, 0, 0)) > 0; got != tt.touched {
			t.Errorf("t=%g touched=%v want %v", tt.t, got, tt.touched)
		}
	}
	if p.FramesTreated()["region-1"] != 3 {
		t.Errorf("frames treated %v", p.FramesTreated())
	}
}

func TestSlateDrawsText(t *testing.T) {
	img := image.NewYCbCr(image.Rect(0, 0, 320, 240), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = 128
	}
	drawSlate(img, renderSlateBitmap("REDACTED 42"), 26, PositionBottomLeft)
	var white, black int
	for y := 120; y < 240; y++ {
		for x := 0; x < 320; x++ {
			switch img.Y[y*img.YStride+x] {
			case 235:
				white++
			case 16:
				black++
			}
		}
	}
	if white < 200 || black < 1000 {
		t.Errorf("slate not drawn: %d white, %d black pixels", white, black)
	}
	for y := 0; y < 120; y++ {
		for x := 0; x < 320; x++ {
			if img.Y[y*img.YStride+x] != 128 {
				t.Fatalf("slate drawn outside the bottom half at %d,%d", x, y)
			}
		}
	}
}

func TestApplyAudio(t *testing.T) {
	s, err := Parse([]byte(`{"version":1,"clip":{"source":"x"},"audio":[
	  {"start":0.5,"end":0.75,"action":"mute","reason":"r"},
	  {"start":1,"end":1.5,"action":"bleep","frequency":110,"reason":"r"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	const sr = 1000
	ch := make([]float32, 2*sr)
	for i := range ch {
		ch[i] = 0.9
	}
	p := NewPlan(s)
	// Two calls, split mid-range, as frames arrive.
	p.ApplyAudio([][]float32{ch[:600]}, sr, 0)
	p.ApplyAudio([][]float32{ch[600:]}, sr, 0.6)
	for i, v := range ch {
		ts := float64(i) / sr
		switch {
		case ts >= 0.5 && ts <= 0.75:
			if v != 0 {
				t.Fatalf("sample %d (%gs) = %g, want silence", i, ts, v)
			}
		case ts >= 1 && ts <= 1.5:
			want := float32(bleepAmplitude * math.Sin(2*math.Pi*110*(ts-1)))
			if math.Abs(float64(v-want)) > 1e-4 {
				t.Fatalf("sample %d = %g want tone %g", i, v, want)
			}
		default:
			if v != 0.9 {
				t.Fatalf("sample %d (%gs) changed to %g", i, ts, v)
			}
		}
	}
	if got := p.SamplesTreated(); got["audio-1"] != 251 || got["audio-2"] != 501 {
		t.Errorf("samples treated %v", got)
	}
}

func TestReciprocalIsExact(t *testing.T) {
	for _, div := range []uint32{3, 5, 7, 129, 4095, 8639, 131071} {
		m := reciprocal(div)
		for n := uint64(0); n < 256*uint64(div); n += 1 + n/1000 {
			if got := (n * m) >> 48; got != n/uint64(div) {
				t.Fatalf("div %d n %d: %d want %d", div, n, got, n/uint64(div))
			}
		}
	}
}

// boxLines is the straightforward reference for boxRows and boxColumns:
// it box-filters n values along each of `lines` lines with a running
// sum; step is the distance between neighbours on a line and lineStep the
// distance between lines. Edges are clamped (the edge pixel repeats). The
// cost is independent of the radius. uint32 wrap-around in the running sum
// is harmless: the true sum always fits.
func boxLines(src, dst []uint32, n, lines, step, lineStep, rad int) {
	if rad < 1 || n < 2 {
		copy(dst, src)
		return
	}
	div := uint32(2*rad + 1)
	half := div / 2
	last := n - 1
	for l := 0; l < lines; l++ {
		base := l * lineStep
		sum := uint32(rad+1) * src[base]
		for i := 1; i <= rad; i++ {
			sum += src[base+min(i, last)*step]
		}
		for i := 0; i < n; i++ {
			dst[base+i*step] = (sum + half) / div
			sum += src[base+min(i+rad+1, last)*step] - src[base+max(i-rad, 0)*step]
		}
	}
}
