// Package redact turns a redaction spec into a redacted clip, proposes specs
// from detected faces, and reports exactly what was redacted.
//
// A records officer releasing body-worn camera footage must never publish an
// unredacted frame inside a redaction window. Everything here serves that
// guarantee: the spec is validated against the probed media before anything
// is rendered, effects are applied in Go on every decoded frame (not through
// time-dependent filter expressions) so a frame's treatment depends only on
// its own presentation time, and the report records every mask and audio
// range together with the SHA-256 of the source and of the output.
//
// Data flow:
//
//	spec JSON ──Parse──► Spec ──Validate / ValidateMedia(MediaInfo)──► ok
//	                                   │
//	IN ──transcode input + decoders──► frames ─► Plan.ApplyVideo (per frame:
//	       interpolate each Region's track at the frame's pts, blur / pixelate /
//	       fill the box or ellipse in the Y, Cb, Cr planes; full-frame blur;
//	       slate text) ─► H.264 encoder ─┐
//	     audio frames ─► Plan.ApplyAudio (digital silence / 1 kHz tone) ─► AAC ─┴► MP4 (faststart) ─► OUT
//	                                   │
//	                       Report (OUT.redaction.json, OUT.redaction.csv)
//
//	IN ──Detect (every Nth frame, BGR at ≤ 960 px wide, one Detector per
//	     worker: YuNet on the analysis picture and at 1/3 of it (MultiScale),
//	     plus every 4th analysed frame at full resolution for faces under 24
//	     analysis pixels; or pigo, or their Union)──► Observations
//	     ──► Tracker (association on a half-second velocity, gap bridging,
//	     backfill to the frame edge or the first frame, shake-aware padding,
//	     hold, smoothing) ──► proposed Spec (regions with origin "auto" and a
//	     confidence) + Review (people with thumbnails, weak candidates, flags)
//
// Face detection: the default model is YuNet_n (yunet_n_dynamic.onnx,
// github.com/ShiqiYu/libfacedetection.train, commit 0047ac24, Apache-2.0;
// models/yunet/LICENSE and the repository's NOTICE credit it), embedded in
// the binary and run by ONNX Runtime 1.30 (libonnxruntime.so.1 from the npm
// package onnxruntime-node, MIT, installed by `make`; located by the
// redact.onnxruntime_library setting, $OPENDEMS_REDACT_ONNXRUNTIME_LIBRARY
// or beside the executable) through github.com/yalue/onnxruntime_go. The
// decoding (score sqrt(cls·obj), boxes and landmarks on strides 8/16/32)
// and non-maximum suppression are Go (yunet.go). pigo's cascade stays
// available as a second model (Detector interface, detector.go).
// docs/redaction.md reports the evaluation set's results and the limits.
//
// Times in a spec are seconds on the source's presentation timeline (the
// first frame of the source is 0). A frame is inside a window when its pts
// time t satisfies start <= t <= end. Box coordinates are pixels of the
// upright picture: decoded frames are first turned by the stream's display
// rotation, exactly as players and the ffmpeg CLI show them.
//
// API:
//
//   - Parse(json) → *Spec (strict decoding, defaults, structural
//     validation); Spec.Validate; Spec.ValidateMedia(MediaInfo) with Probe
//     for a file. Problems come back as *ValidationError (wrapping
//     ErrInvalidSpec) listing each FieldError ("regions[2].keyframes[1].time:
//     after end of media (31.2s > 30.0s)").
//   - Render(ctx, spec, in, out, RenderOptions) → *Report, writing
//     OUT.redaction.json and OUT.redaction.csv (Report.WriteFiles).
//   - Detect(ctx, in, DetectOptions) → *DetectResult with a proposed Spec
//     and a Review; the pieces are usable alone: NewDetector / NewYuNet /
//     FaceDetector (pigo) on a Picture, TrackFaces on []Observation,
//     ProposeSpec.
//   - NewPlan(spec).ApplyVideo / ApplyAudio apply a spec to one frame or one
//     block of samples, for callers that decode themselves.
//
// The spec itself, its parsing and validation, and the report's types and
// files live in the pure-Go package redact/spec (so the API and `dems` check specs without cgo); this package
// keeps their names as aliases (spec_alias.go). The other pure-Go parts
// (effects on *image.YCbCr, tracking, report) need no FFmpeg either; Render, Detect and Probe use go-astiav through the
// transcode package's building blocks (input with interrupter, decoders,
// filter graphs, MP4 writer); the only go-astiav plumbing here is avframe.go
// (in-place plane access and av_frame_make_writable, which go-astiav v0.16
// lacks). The CLI entry points used by `demsd redact` and `demsd detect`
// live in cmd/demsd/internal/redactcli.
package redact
