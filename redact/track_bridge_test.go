package redact

import "testing"

// TestTrackBridgesAndBackfills: a face lost for 2 s (longer than the
// hold) that reappears where its motion puts it stays one region, masked
// across the gap; a face far away is another; a face first found at the
// frame's edge is masked there from before it was found; one found just
// after the start is masked from the first frame.
func TestTrackBridgesAndBackfills(t *testing.T) {
	var obs []Observation
	for i := 0; i <= 60; i++ {
		ts := float64(i) / 10
		ob := Observation{T: ts}
		// A: moving right at 20 px/s, missed from 1.0 to 3.0 s.
		if ts < 1 || ts > 3.05 {
			ob.Detections = append(ob.Detections, Detection{Box: Box{100 + 20*ts, 100, 60, 60}, Score: 0.9, Detector: "yunet"})
		}
		// B: appears at 4 s far from A's path.
		if ts >= 4 {
			ob.Detections = append(ob.Detections, Detection{Box: Box{500, 300, 60, 60}, Score: 0.9, Detector: "yunet"})
		}
		// C: enters at the right edge at 2 s (box cut by the frame).
		if ts >= 2 {
			ob.Detections = append(ob.Detections, Detection{Box: Box{610, 20, 40, 50}, Score: 0.9, Detector: "yunet"})
		}
		// D: a still face first found at 0.3 s.
		if ts >= 0.3 {
			ob.Detections = append(ob.Detections, Detection{Box: Box{300, 250, 50, 50}, Score: 0.9, Detector: "yunet"})
		}
		obs = append(obs, ob)
	}
	tracks := TrackFaces(obs, 640, 360, 6, TrackerOptions{Lead: 0.1})
	if len(tracks) != 4 {
		t.Fatalf("want 4 tracks (A bridged), got %d", len(tracks))
	}
	var a, c, d *Track
	for i := range tracks {
		switch k := tracks[i].Keyframes[len(tracks[i].Keyframes)-1]; {
		case k.X < 300 && k.Y < 200:
			a = &tracks[i]
		case k.X > 550:
			c = &tracks[i]
		case k.X > 250 && k.X < 350:
			d = &tracks[i]
		}
	}
	if a == nil || c == nil || d == nil {
		t.Fatalf("tracks not recognised: %+v", tracks)
	}
	if a.Bridged != 1 {
		t.Errorf("A bridged %d gaps, want 1", a.Bridged)
	}
	ra := Region{Keyframes: a.Keyframes}
	for ts := 0.0; ts <= 6; ts += 0.05 {
		want := Box{100 + 20*ts, 100, 60, 60}
		if b, ok := ra.BoxAt(ts); !ok || b.X > want.X || b.X+b.W < want.X+want.W || b.Y > want.Y || b.Y+b.H < want.Y+want.H {
			t.Errorf("A at %.2fs: %v (ok %v) does not cover %v", ts, b, ok, want)
		}
	}
	if !c.AtEdge {
		t.Error("C's box is cut by the frame's edge: want AtEdge (a rectangle)")
	}
	if s, _ := (&Region{Keyframes: c.Keyframes}).Window(); s > 2-0.6+1e-9 {
		t.Errorf("C starts at %g, want backfilled to 1.4", s)
	}
	if s, _ := (&Region{Keyframes: d.Keyframes}).Window(); s != 0 {
		t.Errorf("D starts at %g, want 0 (found within the backfill of the start)", s)
	}
}
