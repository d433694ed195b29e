package dock

import (
	"context"
	"io"
	"sync"
	"time"
)

// RateLimiter is a token bucket of bytes shared by every upload of a dock,
// so the station's total bandwidth stays under the configured rate.
// (Hand-written rather than golang.org/x/time/rate to keep the agent's
// dependency set to what go.mod already pins; it is a dozen lines.)
type RateLimiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

// NewRateLimiter allows bytesPerSecond on average with bursts of one
// second's worth (at least 64 KiB). bytesPerSecond <= 0 returns nil, which
// never waits.
func NewRateLimiter(bytesPerSecond int64) *RateLimiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := max(float64(bytesPerSecond), 64<<10)
	return &RateLimiter{rate: float64(bytesPerSecond), burst: burst, tokens: burst, last: time.Now()}
}

// WaitN blocks until n bytes may be sent, or ctx ends.
func (l *RateLimiter) WaitN(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n) // may go negative: a debt later callers wait out too
	var wait time.Duration
	if l.tokens < 0 {
		wait = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if wait == 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limitedReader paces reads through a RateLimiter and reports progress.
type limitedReader struct {
	ctx      context.Context
	r        io.Reader
	l        *RateLimiter
	progress func(n int64)
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	if lr.l != nil && len(p) > 64<<10 {
		p = p[:64<<10]
	}
	if err := lr.l.WaitN(lr.ctx, len(p)); err != nil {
		return 0, err
	}
	n, err := lr.r.Read(p)
	if n > 0 && lr.progress != nil {
		lr.progress(int64(n))
	}
	return n, err
}
