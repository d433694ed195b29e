// Package transcode is OpenDEMS' in-process media pipeline, built on
// go-astiav (FFmpeg 5.1 libraries, linked through cgo). It probes evidence
// files, makes browser-playable H.264/AAC MP4 proxies and JPEG thumbnails,
// and exports the low-level building blocks that package redact renders
// redacted clips with. It has no database, queue or storage dependency:
// callers hand it local paths and a context. Product code never runs the
// ffmpeg CLI.
//
// # High-level operations
//
//   - Probe(ctx, path) (*ProbeResult, error): container, duration, streams,
//     rotation, creation time, GPS and device tags; JSON-tagged so it can be
//     stored on the evidence item.
//   - Proxy(ctx, in, out, ProxyOptions, progress): H.264 (libx264, yuv420p,
//     ≤720p, even dimensions, rotation applied) + AAC in a faststart MP4;
//     audio-only inputs give an AAC-only MP4 (m4a). A source that already
//     plays in browsers within these limits is remuxed instead (see "Remux
//     rule"); ProxyResult.Method says which ("remux" or "encode") and
//     NotRemuxed which part of the rule an encoded source broke.
//   - Poster / Sprite (thumbnails): one JPEG poster frame, and a JPEG
//     sprite of N evenly spaced tiles with each tile's geometry and time.
//     They seek; inputs without timestamps (raw .h264/.265 elementary
//     streams) and seeks that land nowhere (some MPEG-TS) are decoded from
//     the start instead. Tiles past the end of what decodes are left out.
//   - Process(ctx, in, ProcessOptions): proxy, poster and sprite from one
//     decode (frames fanned out to the encoder and two small scalers), each
//     output with its own result and error: a thumbnail failure never
//     loses the proxy. The proxy pass compares the decoded length with the
//     declared one (Completeness.Partial: a file cut short).
//   - MediaDuration: the container's duration or, for raw elementary
//     streams, one derived from the stream (frame count at the stream's
//     rate), labelled with how it was derived (ProbeResult.DurationSource).
//
// # Remux rule
//
// The proxy contract is: H.264 8-bit 4:2:0 that every browser decodes,
// upright pictures (the redaction editor draws boxes on the proxy's frames
// as shown), square pixels, even size within MaxShortSide × MaxLongSide,
// progressive, AAC or no audio, index at the front, and keyframes close
// enough for the editor to scrub. A source that already meets it is
// remuxed: its video packets (and its AAC packets) are copied bit for bit
// into a new MP4 with movflags +faststart, timestamps shifted to start at
// 0, container metadata (GPS, device tags) not copied. No quality is lost
// and nothing is encoded. A source is remuxed only when all of these hold:
//
//   - container MP4/MOV (ISO BMFF: length-prefixed H.264 with an avcC
//     header, as an MP4 stores it; MPEG-TS and raw streams are encoded);
//   - video H.264, profile constrained baseline, baseline, main or high,
//     pixel format yuv420p (8-bit, limited range);
//   - no rotation (display matrix or rotate tag): a rotated source is
//     encoded upright rather than left to the player's display matrix;
//   - size equal to what ProxySize gives it: within the bounds, even,
//     square pixels;
//   - overall bit rate known and at most RemuxMaxBitRate (8 Mb/s);
//   - audio absent, or AAC-LC mono/stereo at an AAC sample rate (other
//     audio, such as G.711 or 5.1, sends the whole file to the encoder);
//   - checked while copying: the first decoded frame is progressive, and
//     no frame lies more than MaxKeyframeInterval (2 s) after the keyframe
//     before it. A source that fails either midway is encoded from the
//     start instead, with the reason recorded (the copy is abandoned within
//     the first long GOP, so the wasted work is small).
//
// Process still makes the poster and the sprite from the same single pass:
// the video is decoded (no encode) only until the stills have their frames.
// ProxyOptions.NoRemux turns remuxing off.
//
// # Building blocks (used by package redact; API kept stable)
//
// Data flow of every pipeline, one job at a time:
//
//	c := transcode.NewCloser(); defer c.Close()      // frees every C resource of the job
//	in, _ := transcode.OpenInput(ctx, c, path)        // demuxer; ctx cancels FFmpeg I/O
//	vd, _ := transcode.NewDecoder(c, in, in.Video, threads)
//	ad, _ := transcode.NewDecoder(c, in, in.Audio, 1) // if in.Audio != nil
//	w, _ := transcode.CreateMP4(ctx, c, out, &transcode.VideoEncoderOptions{...}, &transcode.AudioEncoderOptions{...})
//	transcode.DecodeStreams(c, in, []*transcode.Decoder{vd, ad}, func(d *transcode.Decoder, f *astiav.Frame) error {
//	    // video: build a FilterGraph lazily from the first frame
//	    //   g, _ := transcode.NewVideoFilter(c, transcode.VideoSourceOf(f, d.TimeBase()), "scale=...,format=yuv420p", 0)
//	    //   g.Push(f, w.WriteVideoFrame)   // encoder TimeBase must be g.TimeBase()
//	    // audio: r, _ := transcode.NewAudioResampler(c, transcode.AudioSourceOf(f, d.TimeBase()), w.AudioTarget())
//	    //   r.Push(f, w.WriteAudioFrame)
//	})
//	g.Push(nil, w.WriteVideoFrame); r.Push(nil, w.WriteAudioFrame) // flush filters
//	w.Finish()                                        // drain encoders, trailer, moov to the front
//
// The pieces:
//
//   - Closer: one per job; every constructor registers its frees on it, so a
//     single deferred Close releases everything on success, error or cancel.
//   - OpenInput → *Input: FormatContext, best Video/Audio stream, ReadPacket.
//     The context drives FFmpeg's IO interrupter (AVERROR_EXIT on cancel),
//     reported as ctx.Err(). The Input keeps the job's context (as an
//     http.Request does) because libavformat's callback needs it for the
//     Input's whole life.
//   - NewDecoder → *Decoder: Decode(pkt, fn) with frames in the stream time
//     base and gap-free pts; DecodeStreams is the whole demux/decode loop.
//   - NewVideoFilter / NewAudioFilter → *FilterGraph: buffer → your filter
//     string → buffersink; Push(frame, fn), Push(nil, fn) flushes.
//     NewAudioResampler converts to an encoder's AudioTarget (rate, format,
//     layout, AAC frame size).
//   - StreamRotation, RotationFilter(degrees) and ProxySize(w, h, sar,
//     rotation, maxShort, maxLong) compute the upright, even-sized output
//     geometry.
//   - CreateMP4 → *MP4Writer: libx264 (preset/CRF/threads) and AAC tracks,
//     WriteVideoFrame / WriteAudioFrame, Finish; movflags +faststart. Set
//     VideoEncoderOptions.LastFrameDuration so the MP4 edit list does not
//     hide the last frame (off by default only for callers written before
//     it that compensate themselves).
//
// Frames passed to callbacks are reused after the callback returns: Clone
// or Ref them to keep them. None of these types is safe for concurrent use;
// run one job per goroutine (FFmpeg codecs use their own threads).
//
// # Errors
//
// Every media error is a *MediaError (operation, path, kind, cause). Kinds:
// ErrCorruptMedia (FFmpeg could not parse/decode; its message is the cause),
// ErrNoVideo, ErrNoMedia, ErrUnsupportedCodec, ErrInvalidOptions. A missing
// file wraps fs.ErrNotExist; cancellation wraps ctx.Err(). Nothing in this
// package panics on bad input.
//
// # Logging
//
// FFmpeg logs through one process-wide callback; this package does not
// install it by itself (no package-level state). The program installs an
// FFmpegLog once (cmd/demsd does), which sends FFmpeg's lines to slog at
// debug level; a job's context made with FFmpegLog.WithJob tags the lines
// of every FFmpeg object opened under it (demuxer, decoders, encoders) with
// the job's attributes, such as the evidence item id. Users see this
// package's errors: one per failure, naming the step and the file.
//
// # Memory
//
// Everything streams packet by packet: memory is bounded by codec and
// muxer buffers (x264 lookahead, the muxer's interleaving window), never by
// the file size.
package transcode
