package redact

import (
	"image"
	_ "image/jpeg" // test photographs
	"math"
	"os"
	"path/filepath"
	"testing"
)

// evalFace is one photograph of the evaluation set (testdata/faces, see
// SOURCES.md there for each one's origin and licence) with its face box,
// annotated by hand on the photograph (forehead to chin, ear to ear).
type evalFace struct {
	file string
	face Box
}

var evalFaces = []evalFace{
	{"person01.jpg", Box{50, 17, 140, 207}},
	{"person02.jpg", Box{65, 32, 116, 165}},
	{"person03.jpg", Box{74, 45, 102, 142}},
	{"person04.jpg", Box{58, 41, 120, 156}},
	{"person05.jpg", Box{69, 53, 101, 137}},
	{"person06.jpg", Box{74, 38, 117, 164}},
	{"person07.jpg", Box{13, 52, 133, 172}},
	{"person08.jpg", Box{62, 28, 118, 169}},
	{"person09.jpg", Box{72, 58, 96, 136}},
	{"person10.jpg", Box{68, 53, 109, 141}},
	{"person11.jpg", Box{82, 17, 118, 202}},
}

// noFacePhotos are animals (a cat, a dog, a rabbit, faces included) and
// scenes without people.
var noFacePhotos = []string{"cat.jpg", "dog.jpg", "rabbit.jpg", "bg-coffee.jpg", "bg-brick.jpg", "bg-building.jpg", "bg-home.jpg", "bg-rocket.jpg"}

func loadPicture(t testing.TB, name string) *Picture {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "faces", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return PictureFromImage(img)
}

func newTestYuNet(t testing.TB) *YuNet {
	t.Helper()
	y, err := NewYuNet(YuNetOptions{})
	if err != nil {
		t.Fatalf("YuNet must run in the tests (make onnxruntime installs ONNX Runtime): %v", err)
	}
	t.Cleanup(func() { y.Close() })
	return y
}

// TestYuNetRealFaces checks decoding on real photographs: each face is
// found once, where it is, with the eyes above the nose above the mouth
// inside the box; animals and empty scenes give nothing.
func TestYuNetRealFaces(t *testing.T) {
	y := newTestYuNet(t)
	for _, ef := range evalFaces {
		dets, err := y.Detect(loadPicture(t, ef.file))
		if err != nil {
			t.Fatal(err)
		}
		var hit *Detection
		for i := range dets {
			if iou(dets[i].Box, ef.face) > 0.6 {
				if hit != nil {
					t.Errorf("%s: face found twice (NMS): %+v", ef.file, dets)
				}
				hit = &dets[i]
			}
		}
		if hit == nil {
			t.Errorf("%s: face %v not found: %+v", ef.file, ef.face, dets)
			continue
		}
		if hit.Score < 0.8 || hit.Score > 1 || hit.Detector != "yunet" {
			t.Errorf("%s: score %g detector %q", ef.file, hit.Score, hit.Detector)
		}
		l := hit.Landmarks
		b := hit.Box
		for i, p := range l {
			if p.X < b.X || p.X > b.X+b.W || p.Y < b.Y || p.Y > b.Y+b.H {
				t.Errorf("%s: landmark %d %v outside box %v", ef.file, i, p, b)
			}
		}
		eyes := (l[0].Y + l[1].Y) / 2
		mouth := (l[3].Y + l[4].Y) / 2
		if !(eyes < l[2].Y && l[2].Y < mouth) || l[0].X > l[1].X || l[3].X > l[4].X {
			t.Errorf("%s: landmarks out of order (eyes %v %v, nose %v, mouth %v %v)", ef.file, l[0], l[1], l[2], l[3], l[4])
		}
	}
	for _, name := range noFacePhotos {
		dets, err := y.Detect(loadPicture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(dets) != 0 {
			t.Errorf("%s: no person, but found %+v", name, dets)
		}
	}
}

// TestDecodeYuNet checks the decoding formulas on hand-made outputs: one
// anchor at stride 16, cell (col 3, row 2) of a 128×64 input.
func TestDecodeYuNet(t *testing.T) {
	const padW, padH = 128, 64
	var raw [12][]float32
	for i := range 12 {
		s := yunetStrides[i%3]
		n := (padW / s) * (padH / s)
		per := []int{1, 1, 4, 10}[i/3]
		raw[i] = make([]float32, n*per)
	}
	cols := padW / 16
	idx := 2*cols + 3
	raw[1][idx] = 0.81                                                   // cls_16
	raw[4][idx] = 1.5                                                    // obj_16: clamped to 1
	copy(raw[7][4*idx:], []float32{0.5, -0.25, float32(math.Log(2)), 0}) // bbox_16
	for p := range 5 {
		raw[10][10*idx+2*p] = float32(p) * 0.1
		raw[10][10*idx+2*p+1] = -float32(p) * 0.1
	}
	raw[0][0] = 0.3 // a weak stride-8 anchor: below the threshold
	raw[3][0] = 0.3
	dets := decodeYuNet(raw, padW, padH, 0.5)
	if len(dets) != 1 {
		t.Fatalf("want 1 detection, got %+v", dets)
	}
	d := dets[0]
	if math.Abs(d.Score-0.9) > 1e-6 {
		t.Errorf("score %g, want sqrt(0.81·1) = 0.9", d.Score)
	}
	// cx = (3+0.5)·16 = 56, cy = (2-0.25)·16 = 28, w = 2·16, h = 16.
	want := Box{56 - 16, 28 - 8, 32, 16}
	if math.Abs(d.Box.X-want.X)+math.Abs(d.Box.Y-want.Y)+math.Abs(d.Box.W-want.W)+math.Abs(d.Box.H-want.H) > 1e-4 {
		t.Errorf("box %v, want %v", d.Box, want)
	}
	for p := range 5 {
		wx, wy := (3+float64(p)*0.1)*16, (2-float64(p)*0.1)*16
		if math.Abs(d.Landmarks[p].X-wx) > 1e-4 || math.Abs(d.Landmarks[p].Y-wy) > 1e-4 {
			t.Errorf("landmark %d %v, want (%g, %g)", p, d.Landmarks[p], wx, wy)
		}
	}
}

func TestNMSDetections(t *testing.T) {
	dets := []Detection{
		{Box: Box{0, 0, 10, 10}, Score: 0.6},
		{Box: Box{1, 1, 10, 10}, Score: 0.9},  // suppresses the first (IoU 0.68)
		{Box: Box{30, 0, 10, 10}, Score: 0.7}, // separate
		{Box: Box{6, 0, 10, 10}, Score: 0.8},  // IoU with the best 0.29: kept at 0.3
	}
	got := nmsDetections(dets, 0.3, 10)
	if len(got) != 3 || got[0].Score != 0.9 || got[1].Score != 0.8 || got[2].Score != 0.7 {
		t.Errorf("nms: %+v", got)
	}
	if got := nmsDetections(dets, 0.3, 1); len(got) != 1 {
		t.Errorf("topK 1: %+v", got)
	}
}
