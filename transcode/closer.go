package transcode

import (
	"errors"
	"sync"
)

// Closer frees the C resources of one job (format contexts, codec contexts,
// filter graphs, frames, packets) in the reverse order they were registered.
//
// FFmpeg objects are not garbage collected: every allocation must be paired
// with a free, and frees must run in dependency order (a codec context before
// the format context whose stream it decodes, a file before its format
// context). Registering each free on one Closer right after the allocation
// succeeds means a job frees everything with a single deferred Close, on
// success, on error and on cancellation alike. Every building block in this
// package takes the job's Closer for that reason.
//
// A Closer is safe for concurrent use, but a job normally uses it from one
// goroutine. Close is idempotent.
type Closer struct {
	mu     sync.Mutex
	fns    []func() error
	closed bool
}

// NewCloser returns an empty Closer. Always `defer c.Close()` right after.
func NewCloser() *Closer { return &Closer{} }

// Add registers a free function that cannot fail.
func (c *Closer) Add(fn func()) {
	c.AddWithError(func() error { fn(); return nil })
}

// AddWithError registers a free function whose error Close reports (for
// example closing an output file, where a failed flush loses data).
func (c *Closer) AddWithError(fn func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		// Registering after Close would leak; run it now instead.
		_ = fn()
		return
	}
	c.fns = append(c.fns, fn)
}

// Close runs every registered function once, last registered first, and
// returns their errors joined.
func (c *Closer) Close() error {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for i := len(fns) - 1; i >= 0; i-- {
		if err := fns[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
