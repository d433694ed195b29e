package redact

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// interpVectors is testdata/interp_vectors.json, which the web editor's
// JavaScript test reads too, so the editor draws a box where the renderer
// obscures it.
type interpVectors struct {
	Cases []struct {
		Name      string     `json:"name"`
		Keyframes []Keyframe `json:"keyframes"`
		Samples   []struct {
			T   float64 `json:"t"`
			Box *struct {
				X, Y          float64
				Width, Height float64
			} `json:"box"`
			Cover []int `json:"cover"`
		} `json:"samples"`
	} `json:"cases"`
}

func TestInterpolationVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/interp_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v interpVectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("no vectors")
	}
	big := plane{w: 1 << 20, h: 1 << 20}
	for _, c := range v.Cases {
		r := Region{ID: "r", Shape: ShapeRectangle, Effect: Effect{Type: EffectBlur, Strength: 40}, Reason: "b(6)", Origin: OriginManual, Keyframes: c.Keyframes}
		// The vectors must be valid specs: the editor only saves those.
		s := Spec{Version: SpecVersion, Regions: []Region{r}}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: vector keyframes invalid: %v", c.Name, err)
		}
		for _, sm := range c.Samples {
			sb, ok := r.BoxAt(sm.T)
			got := Box(sb)
			if sm.Box == nil {
				if ok {
					t.Errorf("%s: t=%g: box %+v, want nothing", c.Name, sm.T, got)
				}
				continue
			}
			want := Box{sm.Box.X, sm.Box.Y, sm.Box.Width, sm.Box.Height}
			if !ok || math.Abs(got.X-want.X) > 1e-9 || math.Abs(got.Y-want.Y) > 1e-9 || math.Abs(got.W-want.W) > 1e-9 || math.Abs(got.H-want.H) > 1e-9 {
				t.Errorf("%s: t=%g: box %+v (ok %v), want %+v", c.Name, sm.T, got, ok, want)
				continue
			}
			cr := coverRect(got, 0, 0, big)
			if len(sm.Cover) != 4 || cr != (pixRect{sm.Cover[0], sm.Cover[1], sm.Cover[2], sm.Cover[3]}) {
				t.Errorf("%s: t=%g: cover %+v, want %v", c.Name, sm.T, cr, sm.Cover)
			}
		}
	}
}

func TestRejectedProposalIsNotRendered(t *testing.T) {
	kf := []Keyframe{{Time: 0, X: 0, Y: 0, Width: 8, Height: 8}, {Time: 1, X: 0, Y: 0, Width: 8, Height: 8}}
	s := &Spec{Version: SpecVersion, Regions: []Region{
		{ID: "p1", Shape: ShapeRectangle, Effect: Effect{Type: EffectFill, Color: "#000000"}, Reason: "b(6)", Origin: OriginAuto, Review: ReviewRejected, Keyframes: kf},
	}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	p := NewPlan(s)
	if p.Active(0.5) {
		t.Fatal("a rejected proposal makes the plan active")
	}
	s.Regions[0].Review = "" // unreviewed: fail closed
	if !NewPlan(s).Active(0.5) {
		t.Fatal("an unreviewed proposal is not rendered")
	}
	s.Regions[0].Review = "maybe"
	s.Regions[0].Keyframes[0].Interp = "smooth"
	err := s.Validate()
	if err == nil {
		t.Fatal("unknown review and interp accepted")
	}
	ve := err.(*ValidationError)
	if len(ve.Problems) != 2 || ve.Problems[0].Field != "regions[0].review" || ve.Problems[1].Field != "regions[0].keyframes[0].interp" {
		t.Fatalf("problems %+v", ve.Problems)
	}
}
