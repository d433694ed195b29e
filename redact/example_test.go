package redact_test

import (
	"fmt"

	"github.com/opendems/opendems/redact"
)

// A spec is parsed and checked without media, then against the probed
// media (redact.Probe gives the MediaInfo for a real file).
func ExampleParse() {
	spec, err := redact.Parse([]byte(`{
	  "version": 1,
	  "clip": {"source": "item-42"},
	  "regions": [{"shape": "ellipse", "effect": {"type": "blur"}, "reason": "b6", "origin": "manual",
	    "keyframes": [{"time": 1, "x": 10, "y": 10, "width": 80, "height": 100},
	                  {"time": 31.2, "x": 200, "y": 10, "width": 80, "height": 100}]}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Regions[0].ID, spec.Regions[0].Effect.Strength)
	err = spec.ValidateMedia(redact.MediaInfo{Duration: 30, Width: 640, Height: 360, HasVideo: true})
	fmt.Println(err)
	// Output:
	// region-1 40
	// redaction spec: regions[0].keyframes[1].time: after end of media (31.2s > 30.0s)
}
