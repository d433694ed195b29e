package jobs

import "time"

// MediaMeter receives the throughput of the workers' media work: one call
// per finished pass over a recording, naming the work (a redaction job:
// "detect", "preview", "render", "leak_check"; or a transcode's proxy
// method: "remux", "encode"), the seconds of media it covered, the video
// frames it decoded or encoded, and the wall time it took. demsd exports
// these as Prometheus counters (frames per second and media seconds per
// second are their rates' ratios to the time); nil measures nothing.
type MediaMeter interface {
	MediaProcessed(work string, mediaSeconds float64, frames int64, took time.Duration)
}

// meter reports to m when it is set.
func meter(m MediaMeter, work string, mediaSeconds float64, frames int64, start time.Time) {
	if m != nil {
		m.MediaProcessed(work, mediaSeconds, frames, time.Since(start))
	}
}
