package redact

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
)

// Point is a position in pixels.
type Point struct{ X, Y float64 }

// Picture is a packed 8-bit BGR image (3 bytes a pixel, the byte order
// YuNet was trained on), the form frames are analysed in.
type Picture struct {
	Pix    []uint8
	Stride int // bytes a row, >= 3·W
	W, H   int
}

// NewPicture allocates a w×h picture.
func NewPicture(w, h int) *Picture {
	return &Picture{Pix: make([]uint8, 3*w*h), Stride: 3 * w, W: w, H: h}
}

// PictureFromImage converts any image to a Picture.
func PictureFromImage(img image.Image) *Picture {
	b := img.Bounds()
	p := NewPicture(b.Dx(), b.Dy())
	for y := 0; y < p.H; y++ {
		for x := 0; x < p.W; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			o := y*p.Stride + 3*x
			p.Pix[o], p.Pix[o+1], p.Pix[o+2] = uint8(bl>>8), uint8(g>>8), uint8(r>>8)
		}
	}
	return p
}

// Gray returns the picture's luma (BT.601 weights).
func (p *Picture) Gray() *image.Gray {
	g := image.NewGray(image.Rect(0, 0, p.W, p.H))
	for y := 0; y < p.H; y++ {
		row := p.Pix[y*p.Stride:]
		out := g.Pix[y*g.Stride:]
		for x := 0; x < p.W; x++ {
			b, gr, r := int(row[3*x]), int(row[3*x+1]), int(row[3*x+2])
			out[x] = uint8((299*r + 587*gr + 114*b + 500) / 1000)
		}
	}
	return g
}

// Downscale returns the picture shrunk by an integer factor (box filter,
// the mean of each f×f block), or p itself for f <= 1.
func (p *Picture) Downscale(f int) *Picture {
	if f <= 1 {
		return p
	}
	w, h := p.W/f, p.H/f
	q := NewPicture(max(1, w), max(1, h))
	n := f * f
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s [3]int
			for dy := 0; dy < f; dy++ {
				row := p.Pix[(y*f+dy)*p.Stride+3*x*f:]
				for dx := 0; dx < f; dx++ {
					s[0] += int(row[3*dx])
					s[1] += int(row[3*dx+1])
					s[2] += int(row[3*dx+2])
				}
			}
			o := y*q.Stride + 3*x
			q.Pix[o], q.Pix[o+1], q.Pix[o+2] = uint8(s[0]/n), uint8(s[1]/n), uint8(s[2]/n)
		}
	}
	return q
}

// Crop returns a copy of the rectangle r of p (clipped to p).
func (p *Picture) Crop(r image.Rectangle) *Picture {
	r = r.Intersect(image.Rect(0, 0, p.W, p.H))
	q := NewPicture(max(1, r.Dx()), max(1, r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		copy(q.Pix[y*q.Stride:y*q.Stride+3*r.Dx()], p.Pix[(r.Min.Y+y)*p.Stride+3*r.Min.X:])
	}
	return q
}

// Detector finds faces in one picture. Implementations: *YuNet, the pigo
// cascade (PigoDetector), MultiScale (a scale schedule around another
// detector) and Union (several detectors, merged). Detections are in the
// picture's pixels, strongest first. A Detector is used by one goroutine
// at a time; make one per worker.
type Detector interface {
	Name() string
	Detect(*Picture) ([]Detection, error)
	Close() error
}

// PigoDetector adapts the pigo cascade (FaceDetector) to Detector.
type PigoDetector struct{ *FaceDetector }

// Name is "pigo".
func (PigoDetector) Name() string { return "pigo" }

// Detect runs pigo on the picture's luma.
func (d PigoDetector) Detect(p *Picture) ([]Detection, error) {
	dets := d.FaceDetector.Detect(p.Gray())
	for i := range dets {
		dets[i].Detector = "pigo"
	}
	return dets, nil
}

// Close does nothing: the cascade is plain memory.
func (PigoDetector) Close() error { return nil }

// Confidence maps a detector's raw score to 0..1: YuNet's score already
// is one; pigo's cluster score q (also assumed when Detector is empty) is
// unbounded (q/(q+10)).
func (d Detection) Confidence() float64 {
	if d.Detector == "yunet" {
		return math.Min(1, math.Max(0, d.Score))
	}
	return d.Score / (d.Score + 10)
}

// MultiScale runs Inner on the picture and on copies shrunk by each of
// Coarse (integer factors), mapping boxes back. The analysis picture sets
// the finest scale (the smallest face found); coarser passes find faces
// too large for the network's receptive field at full size, so that no
// band of face sizes goes unexamined.
type MultiScale struct {
	Inner  Detector
	Coarse []int
	// MergeIoU merges a coarse box into a finer one above this overlap (0.3).
	MergeIoU float64
}

// Name is the inner detector's name.
func (m *MultiScale) Name() string { return m.Inner.Name() }

// Close closes the inner detector.
func (m *MultiScale) Close() error { return m.Inner.Close() }

// Detect runs the scale schedule.
func (m *MultiScale) Detect(p *Picture) ([]Detection, error) {
	all, err := m.Inner.Detect(p)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Coarse {
		if f <= 1 || p.W/f < 32 || p.H/f < 32 {
			continue
		}
		dets, err := m.Inner.Detect(p.Downscale(f))
		if err != nil {
			return nil, err
		}
		ff := float64(f)
		for _, d := range dets {
			d.Box = Box{d.Box.X * ff, d.Box.Y * ff, d.Box.W * ff, d.Box.H * ff}
			for i := range d.Landmarks {
				d.Landmarks[i] = Point{d.Landmarks[i].X * ff, d.Landmarks[i].Y * ff}
			}
			all = append(all, d)
		}
	}
	return mergeDetections(all, m.mergeIoU()), nil
}

func (m *MultiScale) mergeIoU() float64 {
	if m.MergeIoU > 0 {
		return m.MergeIoU
	}
	return 0.3
}

// Union runs every detector and merges their faces: a face found by any
// of them is kept (redaction must not miss what one model sees).
type Union struct {
	Detectors []Detector
	// MergeIoU merges overlapping boxes from different detectors (0.3).
	MergeIoU float64
}

// Name joins the parts' names with "+".
func (u *Union) Name() string {
	n := ""
	for i, d := range u.Detectors {
		if i > 0 {
			n += "+"
		}
		n += d.Name()
	}
	return n
}

// Detect runs all detectors.
func (u *Union) Detect(p *Picture) ([]Detection, error) {
	var all []Detection
	for _, d := range u.Detectors {
		dets, err := d.Detect(p)
		if err != nil {
			return nil, err
		}
		all = append(all, dets...)
	}
	thr := u.MergeIoU
	if thr <= 0 {
		thr = 0.3
	}
	return mergeDetections(all, thr), nil
}

// Close closes every detector.
func (u *Union) Close() error {
	var errs []error
	for _, d := range u.Detectors {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// mergeDetections keeps, of each group of boxes that overlap by more than
// thr (or where one contains the other's centre and is no more than twice
// its size), the most confident one, grown to cover the others: two
// models' or two scales' boxes of one face become one box that hides all
// of what either saw.
func mergeDetections(dets []Detection, thr float64) []Detection {
	sort.SliceStable(dets, func(i, j int) bool { return dets[i].Confidence() > dets[j].Confidence() })
	var kept []Detection
	for _, d := range dets {
		merged := false
		for k := range kept {
			kb := kept[k].Box
			same := iou(d.Box, kb) > thr ||
				(contains(kb, d.Box) || contains(d.Box, kb)) && sizeRatio(kb, d.Box) < 2
			if same {
				kept[k].Box = unionBox(kb, d.Box)
				merged = true
				break
			}
		}
		if !merged {
			kept = append(kept, d)
		}
	}
	return kept
}

func sizeRatio(a, b Box) float64 {
	sa, sb := math.Max(a.W, a.H), math.Max(b.W, b.H)
	if sa < sb {
		sa, sb = sb, sa
	}
	if sb <= 0 {
		return math.Inf(1)
	}
	return sa / sb
}

func unionBox(a, b Box) Box {
	x0, y0 := math.Min(a.X, b.X), math.Min(a.Y, b.Y)
	x1, y1 := math.Max(a.X+a.W, b.X+b.W), math.Max(a.Y+a.H, b.Y+b.H)
	return Box{x0, y0, x1 - x0, y1 - y0}
}

// Detector names for DetectOptions.Detector.
const (
	DetectorYuNet = "yunet"
	DetectorPigo  = "pigo"
	DetectorUnion = "union"
)

// NewDetector makes one detector as opts says: YuNet with its scale
// schedule (the default), pigo, or the union of both. Call it once per
// worker goroutine.
func NewDetector(opts DetectOptions) (Detector, error) {
	opts = opts.withDefaults()
	newYuNet := func() (Detector, error) {
		y, err := NewYuNet(opts.YuNet)
		if err != nil {
			return nil, err
		}
		return &MultiScale{Inner: y, Coarse: opts.Coarse}, nil
	}
	newPigo := func() (Detector, error) {
		p, err := NewFaceDetector(opts)
		if err != nil {
			return nil, err
		}
		return PigoDetector{p}, nil
	}
	switch opts.Detector {
	case DetectorYuNet:
		return newYuNet()
	case DetectorPigo:
		return newPigo()
	case DetectorUnion:
		y, err := newYuNet()
		if err != nil {
			return nil, err
		}
		p, _ := newPigo()
		return &Union{Detectors: []Detector{y, p}}, nil
	}
	return nil, fmt.Errorf("redact: unknown detector %q (want %s, %s or %s)", opts.Detector, DetectorYuNet, DetectorPigo, DetectorUnion)
}
