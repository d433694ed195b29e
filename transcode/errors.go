package transcode

import (
	"errors"
	"fmt"
)

// Sentinel error kinds. Every error returned by this package for a media
// problem is a *MediaError whose Kind is one of these, so callers decide with
// errors.Is (a worker marks the item "corrupt" rather than retrying) while the
// message still carries FFmpeg's own words.
var (
	// ErrCorruptMedia: the container or a stream cannot be parsed or decoded
	// (truncated file, garbage bytes, bit errors FFmpeg cannot conceal).
	ErrCorruptMedia = errors.New("corrupt or unreadable media")
	// ErrNoVideo: the operation needs a video stream and the input has none.
	ErrNoVideo = errors.New("no video stream")
	// ErrNoMedia: the input has neither a video nor an audio stream.
	ErrNoMedia = errors.New("no audio or video stream")
	// ErrUnsupportedCodec: FFmpeg has no decoder (or encoder) for a stream.
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrInvalidOptions: caller-supplied options are out of range.
	ErrInvalidOptions = errors.New("invalid options")
)

// MediaError is the error type of this package: which operation failed, on
// which file, what kind of failure it is, and the underlying cause (usually
// an astiav.Error carrying FFmpeg's message, or a context error).
type MediaError struct {
	Op   string // e.g. "probe", "proxy: open input", "thumbnail: decode"
	Path string // the input or output path, when there is one
	Kind error  // one of the Err* sentinels above, or nil
	Err  error  // the cause
}

func (e *MediaError) Error() string {
	msg := e.Op
	if e.Path != "" {
		msg += " " + e.Path
	}
	switch {
	case e.Kind != nil && e.Err != nil:
		return fmt.Sprintf("%s: %v: %v", msg, e.Kind, e.Err)
	case e.Kind != nil:
		return fmt.Sprintf("%s: %v", msg, e.Kind)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", msg, e.Err)
	}
	return msg
}

// Unwrap exposes both the kind and the cause to errors.Is / errors.As, so
// errors.Is(err, ErrCorruptMedia) and errors.Is(err, context.Canceled) both
// work on the same value.
func (e *MediaError) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

func mediaErr(op, path string, kind, err error) error {
	return &MediaError{Op: op, Path: path, Kind: kind, Err: err}
}
