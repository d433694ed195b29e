package transcode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/asticode/go-astiav"
)

// Input is an opened media file: the demuxer (FormatContext) with stream
// information read, its best video and audio streams, and an IO interrupter
// wired to the job's context.
//
// Cancellation: OpenInput arranges that when ctx is done, FFmpeg's interrupt
// callback returns 1, so any blocking read inside libavformat (open, stream
// analysis, ReadPacket) returns AVERROR_EXIT promptly; ReadPacket then reports
// ctx.Err(). Nothing else is needed from the caller than passing ctx.
type Input struct {
	// Path is the file that was opened.
	Path string
	// FormatContext is the libavformat demuxer. Use it for metadata and
	// streams; do not close it yourself (the job's Closer does).
	FormatContext *astiav.FormatContext
	// Video is the best video stream (nil when there is none). Attached
	// pictures (cover art) are never chosen.
	Video *astiav.Stream
	// Audio is the best audio stream (nil when there is none).
	Audio *astiav.Stream

	ctx         context.Context //nolint:containedctx // only to translate AVERROR_EXIT into ctx.Err()
	interrupter astiav.IOInterrupter
	// derived caches a duration MediaDuration had to derive.
	derived *derivedDuration
}

type derivedDuration struct {
	seconds float64
	source  string
}

// OpenInput opens path for demuxing, reads stream information and selects the
// best video and audio streams. Every C resource is registered on c.
//
// Errors: a missing file wraps fs.ErrNotExist; a file FFmpeg cannot parse is
// ErrCorruptMedia; cancellation returns ctx.Err() (wrapped).
func OpenInput(ctx context.Context, c *Closer, path string) (*Input, error) {
	const op = "open input"
	if err := ctx.Err(); err != nil {
		return nil, mediaErr(op, path, nil, err)
	}
	// Stat first: FFmpeg's "No such file or directory" is an errno the caller
	// cannot match with errors.Is(err, fs.ErrNotExist).
	st, err := os.Stat(path)
	if err != nil {
		return nil, mediaErr(op, path, nil, err)
	}
	if st.IsDir() {
		return nil, mediaErr(op, path, ErrInvalidOptions, fmt.Errorf("is a directory: %w", fs.ErrInvalid))
	}
	if st.Mode().IsRegular() && st.Size() == 0 {
		// FFmpeg's answer for an empty file ("Invalid data found when
		// processing input") hides the plain cause: an upload or copy
		// that wrote nothing.
		return nil, mediaErr(op, path, ErrCorruptMedia, errors.New("not a media file (zero bytes)"))
	}
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return nil, mediaErr(op, path, nil, errors.New("allocating format context failed"))
	}
	// avformat_open_input frees the context on failure and CloseInput frees
	// it on success; Free on a nil context is a no-op, so this is safe in
	// both cases and covers the window before OpenInput.
	c.Add(fc.Free)
	in := &Input{Path: path, FormatContext: fc, ctx: ctx}
	in.interrupter = fc.SetInterruptCallback()
	stop := context.AfterFunc(ctx, in.interrupter.Interrupt)
	c.Add(func() { stop() })

	registerLog(ctx, c, fc)
	if err := fc.OpenInput(path, nil, nil); err != nil {
		return nil, in.classify(op, err)
	}
	c.Add(fc.CloseInput)
	if err := fc.FindStreamInfo(nil); err != nil {
		return nil, in.classify(op+": find stream info", err)
	}
	// An interrupted stream analysis can still return success with half
	// the parameters filled in; a cancelled job must not use them.
	if err := ctx.Err(); err != nil {
		return nil, mediaErr(op, path, nil, err)
	}
	in.Video = bestStream(fc, astiav.MediaTypeVideo)
	in.Audio = bestStream(fc, astiav.MediaTypeAudio)
	return in, nil
}

// bestStream picks the stream of the given kind with the most pixels (video)
// or channels (audio), skipping attached pictures and streams without a
// known codec, which mirrors av_find_best_stream closely enough for evidence
// files (one camera, one microphone).
func bestStream(fc *astiav.FormatContext, kind astiav.MediaType) *astiav.Stream {
	var best *astiav.Stream
	var bestScore int64 = -1
	for _, s := range fc.Streams() {
		cp := s.CodecParameters()
		if cp.MediaType() != kind || cp.CodecID() == astiav.CodecIDNone {
			continue
		}
		if kind == astiav.MediaTypeVideo && isAttachedPicture(s) {
			continue
		}
		var score int64
		if kind == astiav.MediaTypeVideo {
			score = int64(cp.Width()) * int64(cp.Height())
		} else {
			score = int64(cp.Channels())*1_000_000 + int64(cp.SampleRate())
		}
		if score > bestScore {
			best, bestScore = s, score
		}
	}
	return best
}

// isAttachedPicture reports cover-art "video" streams (one still image in an
// audio file); they must not turn an audio-only file into a video proxy.
func isAttachedPicture(s *astiav.Stream) bool {
	return s.CodecParameters().CodecID() == astiav.CodecIDMjpeg && s.NbFrames() <= 1 && s.AvgFrameRate().Num() == 0 ||
		s.CodecParameters().CodecID() == astiav.CodecIDPng && s.NbFrames() <= 1
}

// ReadPacket reads the next packet into pkt (which it unrefs first). It
// returns io.EOF-like astiav.ErrEof at the end of the file (test with
// errors.Is(err, astiav.ErrEof)), ctx.Err() when the job was cancelled, and
// ErrCorruptMedia for read errors.
func (in *Input) ReadPacket(pkt *astiav.Packet) error {
	pkt.Unref()
	if err := in.ctx.Err(); err != nil {
		return mediaErr("read packet", in.Path, nil, err)
	}
	err := in.FormatContext.ReadFrame(pkt)
	if err == nil {
		return nil
	}
	if errors.Is(err, astiav.ErrEof) {
		return astiav.ErrEof
	}
	return in.classify("read packet", err)
}

// Duration is the input's duration in seconds: what the container
// declares or, when it declares none (raw elementary streams), what the
// stream gives (see MediaDuration, which also says how it was derived);
// 0 when nothing does. The first call on such an input reads the file once
// more, packet by packet, through a second demuxer; the result is kept.
func (in *Input) Duration() float64 {
	d, _, _ := MediaDuration(in.ctx, in)
	return d
}

// declaredDuration is the container's duration in seconds (0 when none).
func (in *Input) declaredDuration() float64 {
	d := in.FormatContext.Duration()
	if d <= 0 || d == astiav.NoPtsValue {
		return 0
	}
	return float64(d) / float64(astiav.TimeBase)
}

// classify turns an FFmpeg error into this package's error: once the job's
// context is done every failure (usually AVERROR_EXIT from the interrupter)
// is reported as the context's error, anything else as corrupt media carrying
// FFmpeg's message.
func (in *Input) classify(op string, err error) error {
	if cerr := in.ctx.Err(); cerr != nil {
		return mediaErr(op, in.Path, nil, cerr)
	}
	return mediaErr(op, in.Path, ErrCorruptMedia, err)
}
