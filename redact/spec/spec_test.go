package spec

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// validSpec is a spec using every feature (testdata/valid.json; the fuzz
// test of package redact seeds from the same file).
var validSpec = func() string {
	b, err := os.ReadFile("testdata/valid.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func TestParseValidFillsDefaults(t *testing.T) {
	s, err := Parse([]byte(validSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.Regions[0].ID != "region-1" || s.Regions[1].ID != "plate" || s.Regions[2].ID != "region-3" {
		t.Errorf("ids: %q %q %q", s.Regions[0].ID, s.Regions[1].ID, s.Regions[2].ID)
	}
	if s.Regions[2].Effect.Color != "#000000" {
		t.Errorf("fill default colour %q", s.Regions[2].Effect.Color)
	}
	if s.Audio[1].Frequency != 1000 || s.Audio[0].Origin != OriginManual {
		t.Errorf("audio defaults: %+v", s.Audio)
	}
	if s.FullFrameBlur[0].Strength != defaultBlur || s.Slate.Position != PositionBottomLeft {
		t.Errorf("defaults: %+v %+v", s.FullFrameBlur, s.Slate)
	}
	if err := s.ValidateMedia(MediaInfo{Duration: 30, Width: 320, Height: 240, HasVideo: true, HasAudio: true}); err != nil {
		t.Fatal(err)
	}
	// Round trip: what Marshal writes, Parse reads back identically.
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := s2.Marshal()
	if string(b) != string(b2) {
		t.Errorf("round trip changed the spec:\n%s\n%s", b, b2)
	}
}

// TestPersonIsOptional: specs written before regions carried a person
// still load (no person: each region is its own); a person round-trips.
func TestPersonIsOptional(t *testing.T) {
	s, err := Parse([]byte(validSpec))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Regions {
		if r.Person != "" {
			t.Fatalf("region %s has person %q from a spec without persons", r.ID, r.Person)
		}
	}
	b, _ := s.Marshal()
	if strings.Contains(string(b), `"person"`) {
		t.Fatalf("an empty person is written: %s", b)
	}
	s.Regions[0].Person, s.Regions[1].Person = "person-2", "person-2"
	b, err = s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Regions[0].Person != "person-2" || s2.Regions[1].Person != "person-2" || s2.Regions[2].Person != "" {
		t.Fatalf("persons after a round trip: %q %q %q", s2.Regions[0].Person, s2.Regions[1].Person, s2.Regions[2].Person)
	}
}

// mutate edits the valid spec text with one replacement.
func mutate(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(validSpec, old) {
		t.Fatalf("test bug: %q not in spec", old)
	}
	return strings.Replace(validSpec, old, new, 1)
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, old, new string
		want           string // exact problem text expected among the errors
	}{
		{"version", `"version": 1`, `"version": 2`, "version: unsupported version 2 (this build reads 1)"},
		{"unknown field", `"version": 1`, `"version": 1, "colour": 3`, "colour: unknown field"},
		{"wrong type", `"in": 1`, `"in": "1"`, "clip.in: want float64, got JSON string"},
		{"negative in", `"in": 1`, `"in": -1`, "clip.in: negative time (-1.0s)"},
		{"inverted clip", `"out": 20`, `"out": 0.5`, "clip.out: not after clip.in (0.5s <= 1.0s)"},
		{"unknown effect", `"type": "blur"`, `"type": "smudge"`, `regions[0].effect.type: unknown effect "smudge" (want blur, pixelate or fill)`},
		{"missing effect", `"effect": {"type": "blur", "strength": 30}`, `"effect": {}`, "regions[0].effect.type: missing (want blur, pixelate or fill)"},
		{"strength", `"strength": 30`, `"strength": 101`, "regions[0].effect.strength: 101 out of range (want 1..100)"},
		{"block size", `"block_size": 12`, `"block_size": 1`, "regions[1].effect.block_size: 1 out of range (want 2..1024)"},
		{"bad colour", `{"type": "fill"}`, `{"type": "fill", "color": "red"}`, `regions[2].effect.color: "red" is not a #rrggbb colour`},
		{"mixed params", `"block_size": 12`, `"block_size": 12, "strength": 3`, "regions[1].effect: pixelate takes only block_size"},
		{"person too long", `"shape": "ellipse"`, `"shape": "ellipse", "person": "` + strings.Repeat("p", 65) + `"`, "regions[0].person: 65 bytes, at most 64"},
		{"person control", `"shape": "ellipse"`, `"shape": "ellipse", "person": "a\u0007b"`, "regions[0].person: contains a control or invalid character"},
		{"shape", `"shape": "ellipse"`, `"shape": "star"`, `regions[0].shape: unknown shape "star" (want rectangle or ellipse)`},
		{"origin", `"origin": "auto"`, `"origin": "robot"`, `regions[0].origin: unknown origin "robot" (want auto or manual)`},
		{"no reason", `"reason": "b6 face"`, `"reason": " "`, "regions[0].reason: a reason or exemption code is required"},
		{"confidence", `"confidence": 0.9`, `"confidence": 1.5`, "regions[0].confidence: out of range 1.5 (want 0..1)"},
		{"no keyframes", `"keyframes": [{"time": 2, "x": 0, "y": 0, "width": 320, "height": 240}]`, `"keyframes": []`, "regions[1].keyframes: at least one keyframe is required"},
		{"unordered keyframes", `{"time": 3, "x": 100`, `{"time": 0.5, "x": 100`, "regions[0].keyframes[1].time: not after the previous keyframe (0.5s <= 1.0s)"},
		{"negative keyframe time", `{"time": 1, "x": 10`, `{"time": -1, "x": 10`, "regions[0].keyframes[0].time: negative time (-1.0s)"},
		{"negative x", `"x": 10, "y": 10`, `"x": -10, "y": 10`, "regions[0].keyframes[0].x: negative (-10): box off frame"},
		{"zero width", `"width": 50, "height": 60}, {"time": 3`, `"width": 0, "height": 60}, {"time": 3`, "regions[0].keyframes[0].width: must be positive (got 0)"},
		{"duplicate id", `"id": "plate"`, `"id": "region-1"`, `regions[1].id: duplicate id "region-1" (also regions[0].id)`},
		{"reserved id", `"id": "plate"`, `"id": "slate"`, `regions[1].id: "slate" is reserved for the slate's report item`},
		{"audio inverted", `"start": 2, "end": 3`, `"start": 3, "end": 2`, "audio[0].end: before start (2.0s < 3.0s)"},
		{"audio action", `"action": "mute"`, `"action": "beep"`, `audio[0].action: unknown action "beep" (want mute or bleep)`},
		{"mute frequency", `"action": "mute"`, `"action": "mute", "frequency": 440`, "audio[0].frequency: only a bleep has a frequency"},
		{"bleep frequency", `"action": "bleep"`, `"action": "bleep", "frequency": 5`, "audio[1].frequency: 5 Hz out of range (want 20..20000)"},
		{"full frame strength", `"reason": "nudity"`, `"reason": "nudity", "strength": 500`, "full_frame_blur[0].strength: 500 out of range (want 1..100)"},
		{"slate empty", `"text": "REQ-42 REDACTED"`, `"text": ""`, "slate.text: must not be empty"},
		{"slate non-ascii", `"text": "REQ-42 REDACTED"`, `"text": "RÉDACTED"`, `slate.text: character 'É' at 1 is not printable ASCII (the built-in font has no glyph for it)`},
		{"slate position", `"text": "REQ-42 REDACTED"`, `"text": "x", "position": "left"`, `slate.position: unknown position "left" (want top-left, top-right, bottom-left, bottom-right or center)`},
		{"trailing data", validSpec, validSpec + "{}", "unexpected data after the spec object"},
		{"truncated", validSpec, validSpec[:40], "truncated JSON"},
		{"empty", validSpec, "", "empty spec"},
		{"not json", validSpec, "version=1", "malformed JSON at byte 1: invalid character 'v' looking for beginning of value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(mutate(t, tt.old, tt.new)))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error does not wrap ErrInvalidSpec: %v", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("not a ValidationError: %v", err)
			}
			for _, p := range ve.Problems {
				if p.Error() == tt.want {
					return
				}
			}
			t.Errorf("want problem %q, got %v", tt.want, err)
		})
	}
}

func TestValidateMedia(t *testing.T) {
	media := MediaInfo{Duration: 30, Width: 320, Height: 240, HasVideo: true, HasAudio: true}
	tests := []struct {
		name, old, new string
		media          MediaInfo
		want           string
	}{
		{"keyframe after end", `{"time": 3, "x": 100`, `{"time": 31.2, "x": 100`, media, "regions[0].keyframes[1].time: after end of media (31.2s > 30.0s)"},
		{"clip out after end", `"out": 20`, `"out": 30.5`, media, "clip.out: after end of media (30.5s > 30.0s)"},
		{"box off right", `"x": 100, "y": 20`, `"x": 300, "y": 20`, media, "regions[0].keyframes[1]: box off frame: x+width = 350 > frame width 320"},
		{"box off bottom", `"width": 320, "height": 240`, `"width": 320, "height": 241`, media, "regions[1].keyframes[0]: box off frame: y+height = 241 > frame height 240"},
		{"audio end", `"start": 4, "end": 5`, `"start": 4, "end": 35`, media, "audio[1].end: after end of media (35.0s > 30.0s)"},
		{"no audio", validSpec, validSpec, MediaInfo{Duration: 30, Width: 320, Height: 240, HasVideo: true}, "audio[0]: media has no audio stream"},
		{"no video", validSpec, validSpec, MediaInfo{Duration: 30, HasAudio: true}, "media has no video stream"},
		{"short media", validSpec, validSpec, MediaInfo{Duration: 10, Width: 320, Height: 240, HasVideo: true, HasAudio: true}, "regions[2].keyframes[1].time: after end of media (30.0s > 10.0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(mutate(t, tt.old, tt.new)))
			if err != nil {
				t.Fatalf("structure should be valid: %v", err)
			}
			err = s.ValidateMedia(tt.media)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want %q in %v", tt.want, err)
			}
		})
	}
}

func TestBoxAt(t *testing.T) {
	r := Region{Keyframes: []Keyframe{
		{Time: 1, X: 0, Y: 0, Width: 10, Height: 10},
		{Time: 2, X: 100, Y: 50, Width: 20, Height: 30},
		{Time: 4, X: 100, Y: 50, Width: 20, Height: 30},
	}}
	tests := []struct {
		t    float64
		want Box
		in   bool
	}{
		{0.999, Box{}, false},
		{1, Box{0, 0, 10, 10}, true},
		{1.5, Box{50, 25, 15, 20}, true},
		{2, Box{100, 50, 20, 30}, true},
		{3, Box{100, 50, 20, 30}, true},
		{4, Box{100, 50, 20, 30}, true},
		{4.001, Box{}, false},
	}
	for _, tt := range tests {
		got, in := r.BoxAt(tt.t)
		if in != tt.in || got != tt.want {
			t.Errorf("BoxAt(%g) = %v,%v want %v,%v", tt.t, got, in, tt.want, tt.in)
		}
	}
}
