package bagit

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"io"
	"sync"
)

// hashChunk is the unit handed to the hashing goroutines; hashSlots
// chunks are in flight at most, so a hasher holds hashSlots×hashChunk
// bytes whatever the file size.
const (
	hashChunk = 1 << 20
	hashSlots = 4
)

// multiHasher computes several sums (SHA-256 and SHA-512) of one stream
// at once, each in its own goroutine, while the caller goes on reading and writing: the
// payload is read once, and on two cores both sums cost about as much
// wall time as the slower one alone.
type multiHasher struct {
	algs   []string
	hashes []hash.Hash
	work   []chan int // per hash: slot indexes to consume, in order
	slots  [hashSlots]slot
	next   int
	n      int64
	wg     sync.WaitGroup // the hashing goroutines
	closed bool
	chunk  int // bytes per slot
}

type slot struct {
	buf     []byte
	pending sync.WaitGroup // hashes still reading buf
}

// newMultiHasher starts the hashing goroutines. sizeHint (the stream's
// length when known, or -1) keeps small files from allocating whole
// chunks.
func newMultiHasher(sizeHint int64, algs []string) *multiHasher {
	m := &multiHasher{algs: algs}
	for _, a := range algs {
		switch a {
		case "sha256":
			m.hashes = append(m.hashes, sha256.New())
		case "sha512":
			m.hashes = append(m.hashes, sha512.New())
		default:
			panic("bagit: no hasher for " + a) // callers pass only Algorithms
		}
	}
	chunk := hashChunk
	if sizeHint >= 0 && sizeHint < hashChunk {
		chunk = int(sizeHint) + 1 // +1: the read that sees EOF
	}
	m.chunk = chunk
	for i := range m.slots {
		m.slots[i].buf = make([]byte, 0, chunk)
	}
	for _, h := range m.hashes {
		ch := make(chan int, hashSlots)
		m.work = append(m.work, ch)
		m.wg.Add(1)
		go func(h hash.Hash) {
			defer m.wg.Done()
			for i := range ch {
				h.Write(m.slots[i].buf)
				m.slots[i].pending.Done()
			}
		}(h)
	}
	return m
}

// readFrom reads r to its end straight into the slots (no extra copy) and
// also writes every byte to w when w is not nil. It returns the number of
// bytes read.
func (m *multiHasher) readFrom(r io.Reader, w io.Writer) (int64, error) {
	var total int64
	for {
		s := &m.slots[m.next]
		s.pending.Wait()
		buf := s.buf[:m.chunk]
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			s.buf = buf[:n]
			s.pending.Add(len(m.hashes))
			for _, ch := range m.work {
				ch <- m.next
			}
			m.next = (m.next + 1) % hashSlots
			total += int64(n)
			if w != nil {
				if _, werr := w.Write(buf[:n]); werr != nil {
					m.n += total
					return total, werr
				}
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			m.n += total
			return total, nil
		}
		if rerr != nil {
			m.n += total
			return total, rerr
		}
	}
}

// sums stops the goroutines and returns the sums by algorithm. The
// hasher cannot be used afterwards.
func (m *multiHasher) sums() map[string][]byte {
	m.stop()
	out := make(map[string][]byte, len(m.algs))
	for i, a := range m.algs {
		out[a] = m.hashes[i].Sum(nil)
	}
	return out
}

// stop ends the goroutines (idempotent); call it on every path.
func (m *multiHasher) stop() {
	if m.closed {
		return
	}
	m.closed = true
	for _, ch := range m.work {
		close(ch)
	}
	m.wg.Wait()
}
