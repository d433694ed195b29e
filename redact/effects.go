package redact

import (
	"image"
	"math"
)

// Effects work directly on the Y, Cb and Cr planes of an *image.YCbCr whose
// slices may alias a decoded FFmpeg frame, so no conversion to RGB and back
// is needed. Boxes are in luma pixels; chroma planes are treated at their
// own (subsampled) resolution with the box scaled and rounded outwards, so
// the obscured chroma area always covers the obscured luma area.

// plane is one image plane.
type plane struct {
	pix    []uint8
	stride int
	w, h   int
}

func (p plane) at(x, y int) *uint8 { return &p.pix[y*p.stride+x] }

// planes returns the three planes of img with their sizes and the chroma
// subsampling shifts (1 for halved, 0 for full).
func planes(img *image.YCbCr) (y, cb, cr plane, sx, sy int) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	switch img.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		sx, sy = 1, 1
	case image.YCbCrSubsampleRatio422:
		sx, sy = 1, 0
	case image.YCbCrSubsampleRatio440:
		sx, sy = 0, 1
	default: // 444; 411/410 are converted by the decoder side before us
	}
	cw, ch := (w+(1<<sx)-1)>>sx, (h+(1<<sy)-1)>>sy
	y = plane{img.Y, img.YStride, w, h}
	cb = plane{img.Cb, img.CStride, cw, ch}
	cr = plane{img.Cr, img.CStride, cw, ch}
	return
}

// pixRect is an integer rectangle [x0,x1)×[y0,y1) in one plane.
type pixRect struct{ x0, y0, x1, y1 int }

func (r pixRect) empty() bool { return r.x1 <= r.x0 || r.y1 <= r.y0 }

// coverRect returns the smallest pixel rectangle of a plane (subsampled by
// 1<<sx, 1<<sy) that covers box, clipped to the plane.
func coverRect(b Box, sx, sy int, p plane) pixRect {
	fx, fy := float64(int(1)<<sx), float64(int(1)<<sy)
	r := pixRect{
		x0: int(math.Floor(b.X / fx)),
		y0: int(math.Floor(b.Y / fy)),
		x1: int(math.Ceil((b.X + b.W) / fx)),
		y1: int(math.Ceil((b.Y + b.H) / fy)),
	}
	r.x0, r.y0 = max(r.x0, 0), max(r.y0, 0)
	r.x1, r.y1 = min(r.x1, p.w), min(r.y1, p.h)
	return r
}

// mask decides which pixels of a plane's cover rectangle are obscured.
type mask struct {
	ellipse        bool
	cx, cy, rx, ry float64 // in plane pixels
}

func newMask(shape Shape, b Box, sx, sy int) mask {
	if shape != ShapeEllipse {
		return mask{}
	}
	fx, fy := float64(int(1)<<sx), float64(int(1)<<sy)
	// Half a pixel of margin so a pixel the ellipse touches is included.
	return mask{
		ellipse: true,
		cx:      (b.X + b.W/2) / fx, cy: (b.Y + b.H/2) / fy,
		rx: b.W/2/fx + 0.5, ry: b.H/2/fy + 0.5,
	}
}

// span returns the covered x range [x0,x1) of row y within r.
func (m mask) span(r pixRect, y int) (int, int) {
	if !m.ellipse {
		return r.x0, r.x1
	}
	dy := (float64(y) + 0.5 - m.cy) / m.ry
	if dy <= -1 || dy >= 1 {
		return 0, 0
	}
	half := m.rx * math.Sqrt(1-dy*dy)
	x0 := int(math.Floor(m.cx - half))
	x1 := int(math.Ceil(m.cx + half))
	return max(x0, r.x0), min(x1, r.x1)
}

// scratch holds reusable buffers so per-frame effects do not allocate.
type scratch struct {
	a, b []uint8 // a box pass never leaves 0..255, so bytes suffice
	sums []uint32
}

func (s *scratch) colSums(w int) {
	if cap(s.sums) < w {
		s.sums = make([]uint32, w)
	}
	s.sums = s.sums[:w]
}

func (s *scratch) grow(n int) {
	if cap(s.a) < n {
		s.a = make([]uint8, n)
		s.b = make([]uint8, n)
	}
	s.a, s.b = s.a[:n], s.b[:n]
}

// blurPasses is the number of box passes; three box blurs approximate a
// Gaussian closely enough that no blocky structure of the face survives.
const blurPasses = 3

// blurRect blurs rectangle r of plane p with a box of radius rad (edges
// clamped to the rectangle, so nothing outside the region leaks in) and
// writes the result to the pixels the mask covers.
func blurRect(p plane, r pixRect, m mask, rad int, s *scratch) {
	if r.empty() || rad < 1 {
		return
	}
	w, h := r.x1-r.x0, r.y1-r.y0
	s.grow(w * h)
	cur, tmp := s.a, s.b
	for y := 0; y < h; y++ {
		copy(cur[y*w:(y+1)*w], p.pix[(r.y0+y)*p.stride+r.x0:])
	}
	s.colSums(w)
	for pass := 0; pass < blurPasses; pass++ {
		boxRows(cur, tmp, w, h, min(rad, w-1))
		boxColumns(tmp, cur, w, h, min(rad, h-1), s.sums)
	}
	for y := 0; y < h; y++ {
		x0, x1 := m.span(r, r.y0+y)
		row := p.pix[(r.y0+y)*p.stride:]
		for x := x0; x < x1; x++ {
			row[x] = cur[y*w+(x-r.x0)]
		}
	}
}

// boxRows box-filters the rows of a w×h buffer with a running sum (cost
// independent of the radius), edges clamped (the edge pixel repeats),
// with the clamped edges handled outside the inner loop. uint32
// wrap-around in the running sum is harmless: the true sum always fits.
func boxRows(src, dst []uint8, w, h, rad int) {
	if rad < 1 || w < 2 {
		copy(dst[:w*h], src[:w*h])
		return
	}
	div := uint32(2*rad + 1)
	half := div / 2
	m := reciprocal(div)
	last := w - 1
	for y := 0; y < h; y++ {
		in := src[y*w:][:w]
		out := dst[y*w:][:w]
		sum := uint32(rad+1) * uint32(in[0])
		for i := 1; i <= rad; i++ {
			sum += uint32(in[min(i, last)])
		}
		i := 0
		for ; i < w && i < rad; i++ { // left edge: i-rad clamps to 0
			out[i] = uint8((uint64(sum+half) * m) >> 48)
			sum += uint32(in[min(i+rad+1, last)]) - uint32(in[0])
		}
		for ; i+rad+1 <= last; i++ { // interior: no clamping
			out[i] = uint8((uint64(sum+half) * m) >> 48)
			sum += uint32(in[i+rad+1]) - uint32(in[i-rad])
		}
		for ; i < w; i++ { // right edge: i+rad+1 clamps to last
			out[i] = uint8((uint64(sum+half) * m) >> 48)
			sum += uint32(in[last]) - uint32(in[max(i-rad, 0)])
		}
	}
}

// boxColumns is boxRows down the columns of a w×h buffer, done row by
// row with one running sum per column so every inner loop walks memory
// contiguously (a column-at-a-time pass thrashes the cache on large boxes).
func boxColumns(src, dst []uint8, w, h, rad int, sums []uint32) {
	if rad < 1 || h < 2 {
		copy(dst[:w*h], src[:w*h])
		return
	}
	div := uint32(2*rad + 1)
	half := div / 2
	m := reciprocal(div)
	last := h - 1
	first := src[:w]
	for x := range sums {
		sums[x] = uint32(rad+1) * uint32(first[x])
	}
	for i := 1; i <= rad; i++ {
		row := src[min(i, last)*w:][:w]
		for x, v := range row {
			sums[x] += uint32(v)
		}
	}
	for y := 0; y < h; y++ {
		out := dst[y*w:][:w]
		add := src[min(y+rad+1, last)*w:][:w]
		sub := src[max(y-rad, 0)*w:][:w]
		for x := range out {
			out[x] = uint8((uint64(sums[x]+half) * m) >> 48)
			sums[x] += uint32(add[x]) - uint32(sub[x])
		}
	}
}

// reciprocal returns m with (n*m)>>48 == n/div for every n < 256*div
// and div < 2^20 (m = ceil(2^48/div); the error n*e/2^48 stays below 1/div),
// replacing a per-pixel division by a multiplication.
func reciprocal(div uint32) uint64 {
	return (1<<48 + uint64(div) - 1) / uint64(div)
}

// pixelateRect replaces each block×block cell (aligned to the rectangle's
// origin) by its mean, written to the pixels the mask covers.
func pixelateRect(p plane, r pixRect, m mask, block int) {
	if r.empty() {
		return
	}
	block = max(block, 1)
	for by := r.y0; by < r.y1; by += block {
		ey := min(by+block, r.y1)
		for bx := r.x0; bx < r.x1; bx += block {
			ex := min(bx+block, r.x1)
			var sum, n uint32
			for y := by; y < ey; y++ {
				row := p.pix[y*p.stride:]
				for x := bx; x < ex; x++ {
					sum += uint32(row[x])
				}
				n += uint32(ex - bx)
			}
			v := uint8((sum + n/2) / n)
			for y := by; y < ey; y++ {
				x0, x1 := m.span(r, y)
				x0, x1 = max(x0, bx), min(x1, ex)
				row := p.pix[y*p.stride:]
				for x := x0; x < x1; x++ {
					row[x] = v
				}
			}
		}
	}
}

// fillRect paints value v on the pixels the mask covers.
func fillRect(p plane, r pixRect, m mask, v uint8) {
	if r.empty() {
		return
	}
	for y := r.y0; y < r.y1; y++ {
		x0, x1 := m.span(r, y)
		row := p.pix[y*p.stride:]
		for x := x0; x < x1; x++ {
			row[x] = v
		}
	}
}

// yuv converts an sRGB colour to limited-range BT.601 Y'CbCr, the range
// H.264 output uses (full-range sources are converted before effects).
func (c rgb) yuv() (y, cb, cr uint8) {
	r, g, b := float64(c.R), float64(c.G), float64(c.B)
	clamp := func(v float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(v)))) }
	y = clamp(16 + (65.481*r+128.553*g+24.966*b)/255)
	cb = clamp(128 + (-37.797*r-74.203*g+112.0*b)/255)
	cr = clamp(128 + (112.0*r-93.786*g-18.214*b)/255)
	return
}

// applyEffect obscures box b (shape, effect) in img. The caller has
// validated the effect; an invalid one is ignored here, never half-applied.
func applyEffect(img *image.YCbCr, b Box, shape Shape, e effectParams, s *scratch) {
	y, cb, cr, sx, sy := planes(img)
	ly := coverRect(b, 0, 0, y)
	lc := coverRect(b, sx, sy, cb)
	my, mc := newMask(shape, b, 0, 0), newMask(shape, b, sx, sy)
	switch e.Type {
	case EffectBlur:
		rad := e.radius
		if rad == 0 {
			rad = blurRadius(math.Min(b.W, b.H), e.Strength)
		}
		blurRect(y, ly, my, rad, s)
		crad := max(1, rad>>max(sx, sy))
		blurRect(cb, lc, mc, crad, s)
		blurRect(cr, lc, mc, crad, s)
	case EffectPixelate:
		pixelateRect(y, ly, my, e.BlockSize)
		cblock := max(1, e.BlockSize>>max(sx, sy))
		pixelateRect(cb, lc, mc, cblock)
		pixelateRect(cr, lc, mc, cblock)
	case EffectFill:
		c, err := parseColor(e.Color)
		if err != nil {
			c = rgb{}
		}
		vy, vb, vr := c.yuv()
		fillRect(y, ly, my, vy)
		fillRect(cb, lc, mc, vb)
		fillRect(cr, lc, mc, vr)
	}
}

// blurRadius maps a strength (percent of the region's smaller side) to a
// box radius of at least 2 pixels.
func blurRadius(side float64, strength int) int {
	return max(2, int(math.Ceil(side*float64(strength)/100)))
}

// effectParams is an Effect with an optional fixed blur radius (used by the
// full-frame blur, whose strength is relative to the frame, not a box).
type effectParams struct {
	Effect
	radius int
}

// applyFullFrameBlur blurs the whole picture; strength 100 is a radius of a
// quarter of the frame's smaller side.
func applyFullFrameBlur(img *image.YCbCr, strength int, s *scratch) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	rad := blurRadius(float64(min(w, h))/4, strength)
	applyEffect(img, Box{0, 0, float64(w), float64(h)}, ShapeRectangle,
		effectParams{Effect: Effect{Type: EffectBlur, Strength: strength}, radius: rad}, s)
}
