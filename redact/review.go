package redact

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"sync"
)

// FaceReview is what a records officer needs to check a proposal: the regions
// grouped per person, each with a thumbnail and a confidence, and the
// reasons a human must look before anything is released.
type FaceReview struct {
	Detector       string   `json:"detector"`
	FramesAnalysed int      `json:"frames_analysed"`
	People         []Person `json:"people"`
	// Candidates are weak tracks that were not proposed (no detection
	// reached the proposal threshold): often an animal's face or a
	// pattern, sometimes a real face the detector barely sees. Their
	// Regions list is empty; Keyframes say where to look.
	Candidates []Candidate `json:"candidates"`
	// NoDetections is set when no face was found in any analysed frame:
	// the clip may still show faces the detector cannot see (turned away,
	// masked, very small or dark), so it is never passed unseen.
	NoDetections bool `json:"no_detections"`
	// NeedsReview is set when any reason below applies.
	NeedsReview bool     `json:"needs_review"`
	Reasons     []string `json:"reasons,omitempty"`
}

// Person is one tracked face (after gaps were bridged) and its regions.
type Person struct {
	ID      string   `json:"id"`
	Regions []string `json:"regions"`
	// Confidence is the mean detection confidence (0..1).
	Confidence float64 `json:"confidence"`
	Detections int     `json:"detections"`
	// First and Last are the times (seconds) the face was first and last
	// detected; the region's window is wider (backfill and hold).
	First float64 `json:"first_seen"`
	Last  float64 `json:"last_seen"`
	// LowConfidence marks a person whose detections stayed doubtful: it may
	// be a false face (mask nothing needed) or a real one the detector
	// barely sees (check every frame).
	LowConfidence bool `json:"low_confidence"`
	// Thumbnail is a small JPEG of the face's best detection, as a data URL.
	Thumbnail string `json:"thumbnail,omitempty"`
}

// Candidate is a weak track, not proposed.
type Candidate struct {
	Person
	Keyframes []Keyframe `json:"keyframes"`
}

// LowConfidenceBelow is the mean confidence under which a person is
// flagged for review.
const LowConfidenceBelow = 0.7

// thumbStore keeps, for each face seen (associated loosely in time and
// space while frames are analysed, in any order within a second), the
// crop of its most confident detection. Entries are small (64 px tall), so
// memory grows with the number of faces, not with the clip's length.
type thumbStore struct {
	mu      sync.Mutex
	entries []*thumbEntry
}

type thumbEntry struct {
	lastT float64
	box   Box // source pixels, last seen
	bestT float64
	best  Box // source pixels
	conf  float64
	thumb *Picture
}

func newThumbStore() *thumbStore { return &thumbStore{} }

const thumbHeight = 64

// offer considers detection d (source pixels) at time t as a thumbnail,
// cut from img, which has imgScale source pixels a pixel.
func (s *thumbStore) offer(t float64, d Detection, img *Picture, imgScale float64) {
	conf := d.Confidence()
	s.mu.Lock()
	defer s.mu.Unlock()
	var e *thumbEntry
	for _, x := range s.entries {
		if math.Abs(t-x.lastT) > 1 {
			continue
		}
		size := math.Max(x.box.W, x.box.H)
		dist := math.Hypot(x.box.X+x.box.W/2-d.Box.X-d.Box.W/2, x.box.Y+x.box.H/2-d.Box.Y-d.Box.H/2)
		if iou(x.box, d.Box) > 0.2 || dist < 0.8*size {
			e = x
			break
		}
	}
	if e == nil {
		e = &thumbEntry{}
		s.entries = append(s.entries, e)
	}
	if t > e.lastT || e.thumb == nil {
		e.lastT, e.box = t, d.Box
	}
	if e.thumb == nil || conf > e.conf {
		e.bestT, e.best, e.conf = t, d.Box, conf
		b := d.Box
		if imgScale > 0 && imgScale != 1 {
			b = Box{b.X / imgScale, b.Y / imgScale, b.W / imgScale, b.H / imgScale}
		}
		e.thumb = thumbnail(img, b)
	}
}

// thumbnail crops the box (grown by 20 %) and scales it to 64 px tall
// (nearest sample: it is only for recognising who is who).
func thumbnail(img *Picture, b Box) *Picture {
	g := 0.2
	x0, y0 := int(b.X-b.W*g), int(b.Y-b.H*g)
	x1, y1 := int(b.X+b.W*(1+g)), int(b.Y+b.H*(1+g))
	c := img.Crop(image.Rect(x0, y0, x1, y1))
	h := thumbHeight
	w := max(1, c.W*h/max(1, c.H))
	out := NewPicture(w, h)
	for y := 0; y < h; y++ {
		sy := min(c.H-1, y*c.H/h)
		for x := 0; x < w; x++ {
			sx := min(c.W-1, x*c.W/w)
			copy(out.Pix[y*out.Stride+3*x:y*out.Stride+3*x+3], c.Pix[sy*c.Stride+3*sx:])
		}
	}
	return out
}

func (p *Picture) jpegDataURL() string {
	img := image.NewRGBA(image.Rect(0, 0, p.W, p.H))
	for y := 0; y < p.H; y++ {
		for x := 0; x < p.W; x++ {
			o := y*p.Stride + 3*x
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = p.Pix[o+2], p.Pix[o+1], p.Pix[o], 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		return ""
	}
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

// buildReview groups the proposal per person and decides what needs a
// human look. scale converts analysis pixels to source pixels.
func buildReview(res *DetectResult, thumbs *thumbStore, scale float64) FaceReview {
	rv := FaceReview{Detector: res.Detector, FramesAnalysed: res.FramesAnalysed, People: []Person{}, Candidates: []Candidate{}}
	found := 0
	for _, ob := range res.Observations {
		found += len(ob.Detections)
	}
	if found == 0 {
		rv.NoDetections = true
		rv.Reasons = append(rv.Reasons, fmt.Sprintf("no face detected in %d analysed frames: check the clip by eye (faces turned away, covered, tiny or very dark are not found)", res.FramesAnalysed))
	} else if len(res.Tracks)+len(res.Doubtful) == 0 {
		rv.Reasons = append(rv.Reasons, fmt.Sprintf("%d isolated detections did not form a track: check the clip by eye", found))
	}
	for i, t := range res.Tracks {
		p := Person{ID: fmt.Sprintf("person-%d", i+1), Regions: []string{res.Spec.Regions[i].ID},
			Confidence: math.Round(t.Confidence*1000) / 1000, Detections: t.Detections,
			First: round3(t.First), Last: round3(t.Last), LowConfidence: t.Confidence < LowConfidenceBelow}
		if e := thumbs.bestFor(&res.Spec.Regions[i], scale); e != nil {
			p.Thumbnail = e.thumb.jpegDataURL()
		}
		if p.LowConfidence {
			rv.Reasons = append(rv.Reasons, fmt.Sprintf("%s (region %s, %.1f-%.1fs): low confidence %.2f, check whether it is a face and whether every frame is covered",
				p.ID, p.Regions[0], p.First, p.Last, p.Confidence))
		}
		rv.People = append(rv.People, p)
	}
	for i, t := range res.Doubtful {
		c := Candidate{Person: Person{ID: fmt.Sprintf("candidate-%d", i+1), Regions: []string{},
			Confidence: math.Round(t.Confidence*1000) / 1000, Detections: t.Detections,
			First: round3(t.First), Last: round3(t.Last), LowConfidence: true}, Keyframes: t.Keyframes}
		if e := thumbs.bestFor(&Region{Keyframes: t.Keyframes}, scale); e != nil {
			c.Thumbnail = e.thumb.jpegDataURL()
		}
		rv.Candidates = append(rv.Candidates, c)
	}
	if len(rv.Candidates) > 0 {
		rv.Reasons = append(rv.Reasons, fmt.Sprintf("%d weak face candidate(s) not proposed (best confidence under the threshold): check whether any is a person", len(rv.Candidates)))
	}
	rv.NeedsReview = len(rv.Reasons) > 0
	return rv
}

// bestFor returns the most confident thumbnail whose best detection lies
// inside the region at its time.
func (s *thumbStore) bestFor(r *Region, scale float64) *thumbEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *thumbEntry
	for _, e := range s.entries {
		b, ok := r.BoxAt(e.bestT)
		if !ok {
			continue
		}
		cx, cy := (e.best.X+e.best.W/2)*scale, (e.best.Y+e.best.H/2)*scale
		if cx < b.X || cx > b.X+b.W || cy < b.Y || cy > b.Y+b.H {
			continue
		}
		if best == nil || e.conf > best.conf {
			best = e
		}
	}
	return best
}
