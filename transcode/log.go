package transcode

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/asticode/go-astiav"
)

// FFmpegLog routes FFmpeg's own log lines into slog at debug level, each
// tagged with the attributes of the job (e.g. the evidence item id) whose
// demuxer, decoder or encoder wrote it. Users see this package's errors,
// one per failure naming the step and the file; FFmpeg's lines, which used
// to go to stderr mixed with them, are diagnostics for the operator.
//
// FFmpeg has one log callback per process, so the program installs one
// FFmpegLog from main; jobs attach their attributes with WithJob, and every
// FFmpeg object opened under that context (OpenInput, NewDecoder,
// CreateMP4) is registered for the object's life. Lines from objects
// FFmpeg creates internally (the demuxer's parsers) carry no job.
type FFmpegLog struct {
	logger *slog.Logger
	mu     sync.RWMutex
	owners map[astiav.Classer][]any
}

// NewFFmpegLog returns a router into logger (nil: whatever slog.Default()
// is when a line arrives, so main may install it before configuring slog).
func NewFFmpegLog(logger *slog.Logger) *FFmpegLog {
	return &FFmpegLog{logger: logger, owners: map[astiav.Classer][]any{}}
}

// Install makes l FFmpeg's log callback and sets FFmpeg's level: lines
// above it are dropped inside FFmpeg, before any formatting. Keep it at
// Warning or quieter: go-astiav formats each line into a 1 KiB buffer, and
// only FFmpeg's verbose and debug levels write longer lines.
func (l *FFmpegLog) Install(level astiav.LogLevel) {
	astiav.SetLogLevel(level)
	astiav.SetLogCallback(l.line)
}

type logJobKey struct{}

type logJob struct {
	log   *FFmpegLog
	attrs []any
}

// WithJob returns ctx carrying attrs (slog key-value pairs such as
// "evidence_id", id) for every FFmpeg line of objects opened with it.
func (l *FFmpegLog) WithJob(ctx context.Context, attrs ...any) context.Context {
	return context.WithValue(ctx, logJobKey{}, &logJob{log: l, attrs: attrs})
}

// registerLog ties cl's log lines to the job in ctx until c closes.
func registerLog(ctx context.Context, c *Closer, cl astiav.Classer) {
	if ctx == nil || cl == nil {
		return
	}
	j, _ := ctx.Value(logJobKey{}).(*logJob)
	if j == nil {
		return
	}
	j.log.mu.Lock()
	j.log.owners[cl] = j.attrs
	j.log.mu.Unlock()
	c.Add(func() {
		j.log.mu.Lock()
		delete(j.log.owners, cl)
		j.log.mu.Unlock()
	})
}

func (l *FFmpegLog) line(cl astiav.Classer, level astiav.LogLevel, _, msg string) {
	msg = strings.TrimRight(msg, "\n")
	if msg == "" {
		return
	}
	args := []any{"ffmpeg_level", ffmpegLevelName(level)}
	if cl != nil {
		l.mu.RLock()
		attrs := l.owners[cl]
		l.mu.RUnlock()
		args = append(args, attrs...)
		if c := cl.Class(); c != nil {
			args = append(args, "ffmpeg_class", c.Name())
		}
	}
	logger := l.logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Debug("ffmpeg: "+msg, args...)
}

func ffmpegLevelName(level astiav.LogLevel) string {
	switch {
	case level <= astiav.LogLevelFatal:
		return "fatal"
	case level <= astiav.LogLevelError:
		return "error"
	case level <= astiav.LogLevelWarning:
		return "warning"
	case level <= astiav.LogLevelInfo:
		return "info"
	}
	return "verbose"
}
