package redact

import (
	"errors"
	"image"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	valid, err := os.ReadFile("spec/testdata/valid.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"version":1,"clip":{"source":"x"}}`))
	f.Add([]byte(`{"version":1,"clip":{"source":"x"},"regions":[{"shape":"rectangle","effect":{"type":"fill","color":"#ff0000"},"reason":"r","origin":"manual","keyframes":[{"time":0,"x":0,"y":0,"width":1,"height":1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("error does not wrap ErrInvalidSpec: %v", err)
			}
			return
		}
		// Anything accepted must survive a round trip unchanged and be
		// renderable by the pure-Go effects without panicking.
		b, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse of accepted spec failed: %v\n%s", err, b)
		}
		b2, _ := s2.Marshal()
		if string(b) != string(b2) {
			t.Fatalf("round trip changed spec")
		}
		if s.ValidateMedia(MediaInfo{Duration: 10, Width: 64, Height: 48, HasVideo: true, HasAudio: true}) == nil {
			img := newTestFrame(64, 48)
			p := NewPlan(s)
			for _, ts := range []float64{0, 0.5, 1, 5, 10} {
				before := cloneFrame(img)
				p.ApplyVideo(img, ts)
				// The renderer skips inactive frames: they must be untouched.
				if !p.Active(ts) && changedOutside(before, img, image.Rectangle{}) != 0 {
					t.Fatalf("frame at %g changed although the plan is not active", ts)
				}
			}
			p.ApplyAudio([][]float32{make([]float32, 1024)}, 48000, 0)
		}
	})
}
