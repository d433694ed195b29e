package request

import "github.com/opendems/opendems/redact/spec"

// The JSON answers and query parameters of the request floor's routes.
// Each handler writes exactly its route's declared type (api.Route.Out),
// so the OpenAPI description and the generated client say what is sent.

// RequestList is the dashboard: requests by due date.
type RequestList struct {
	Requests []Request `json:"requests"`
}

// CreatedRequest is a request recorded by staff, with the requester's
// status code (shown this once).
type CreatedRequest struct {
	Request    Request `json:"request"`
	StatusCode string  `json:"status_code"`
}

// RequestAnswer is a request after a change of state or clock.
type RequestAnswer struct {
	Request Request `json:"request"`
}

// ClockRules is the statutory clock in force, as staff see it.
type ClockRules struct {
	Jurisdiction     string             `json:"jurisdiction"`
	Days             DayKind            `json:"days"`
	ResponseDays     int                `json:"response_days"`
	TimeZone         string             `json:"time_zone"`
	MaxExtensions    int                `json:"max_extensions"`
	MaxExtensionDays int                `json:"max_extension_days"`
	PauseOn          map[PauseKind]bool `json:"pause_on"`
}

// ExemptionsAnswer is the exemption codes staff may cite and the clock.
type ExemptionsAnswer struct {
	Exemptions []Exemption `json:"exemptions"`
	Clock      ClockRules  `json:"clock"`
}

// Timeline is a request's events, oldest first.
type Timeline struct {
	Events []Event `json:"events"`
}

// ClipAnswer is one clip after a change.
type ClipAnswer struct {
	Clip Clip `json:"clip"`
}

// SpecVersionList is a clip's spec versions, newest first.
type SpecVersionList struct {
	Versions []SpecVersion `json:"versions"`
}

// JobList is a clip's redaction jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

// JobAnswer is one redaction job.
type JobAnswer struct {
	Job Job `json:"job"`
}

// JobView is one job and the outputs it produced so far (a track job's
// output carries the keyframes, as a TrackResult, in details.result).
type JobView struct {
	Job     Job         `json:"job"`
	Outputs []JobOutput `json:"outputs"`
}

// OutputList is a clip's job outputs.
type OutputList struct {
	Outputs []JobOutput `json:"outputs"`
}

// WithheldAnswer is an item withheld.
type WithheldAnswer struct {
	Withheld Withheld `json:"withheld"`
}

// TrackResult is a box tracked forward and backward as region keyframes.
type TrackResult struct {
	Keyframes []spec.Keyframe `json:"keyframes"`
	// Start and End are where tracking stopped (object lost, edge of the
	// range), in source seconds.
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	// Frames is the number of frames matched.
	Frames int `json:"frames"`
	// MinScale and MaxScale are the smallest and largest box size
	// relative to the drawn one.
	MinScale float64 `json:"min_scale"`
	MaxScale float64 `json:"max_scale"`
}

// ListQuery documents the dashboard's query parameters.
type ListQuery struct {
	Open     bool     `form:"open" doc:"only requests still awaiting an answer"`
	State    []string `form:"state" doc:"any of these states (repeat, or separate with commas)"`
	Assignee string   `form:"assignee"`
	Limit    int      `form:"limit" doc:"default 200, at most 1000"`
}

// SpecQuery picks a spec version.
type SpecQuery struct {
	Version int `form:"version" doc:"the version (latest when absent)"`
}

// Waveform is the audio envelope GET .../waveform answers: the document
// WaveformSource returns (evidence/jobs.Waveforms, transcode.Waveform),
// described here because this package does not link FFmpeg.
type Waveform struct {
	// Rate is the buckets (min/max pairs) per second.
	Rate int `json:"rate"`
	// Duration is the audio's length in seconds.
	Duration float64 `json:"duration"`
	// Peaks is min0, max0, min1, max1, ...
	Peaks []int8 `json:"peaks"`
	// NoAudio is set for an item without an audio track.
	NoAudio bool `json:"no_audio,omitempty"`
}
