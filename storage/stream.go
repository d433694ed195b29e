package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// StreamWriter stores an object whose digest is known only once its last
// byte is written (a release package streamed out of a ZIP writer). The
// backend hashes every byte as it writes it; Commit names the object by
// that SHA-256 and makes it visible with the PutOptions given at creation,
// so, as with Put, no caller's claim about the content is trusted. A
// StreamWriter is not safe for concurrent use.
type StreamWriter interface {
	io.Writer
	// Commit ends the stream and stores it as the object named by the
	// SHA-256 of the bytes written. An object of that digest stored
	// before is returned unchanged (its retention is not shortened, as
	// with Put). After Commit the writer cannot be used.
	Commit(ctx context.Context) (Object, error)
	// Abort discards everything written (idempotent; a no-op after
	// Commit).
	Abort() error
}

// StreamCreator is implemented by backends that can write a stream of
// unknown digest in one pass (fs: a staging file renamed into place).
type StreamCreator interface {
	CreateStream(ctx context.Context, ns Namespace, opts PutOptions) (StreamWriter, error)
}

// CreateStream starts a StreamWriter on st: the backend's own when it has
// one (one pass: each byte is written once), otherwise a staging file in
// tempDir ("" = os.TempDir()) hashed while written and Put on Commit (a
// second pass over the bytes, still bounded memory).
func CreateStream(ctx context.Context, st Store, ns Namespace, opts PutOptions, tempDir string) (StreamWriter, error) {
	if !ns.Valid() {
		return nil, fmt.Errorf("storage: create stream: namespace %q: %w", ns, ErrInvalid)
	}
	if sc, ok := st.(StreamCreator); ok {
		return sc.CreateStream(ctx, ns, opts)
	}
	f, err := os.CreateTemp(tempDir, "stream-*")
	if err != nil {
		return nil, fmt.Errorf("storage: create stream: %w", err)
	}
	os.Remove(f.Name()) // unlinked: gone when closed, whatever happens
	return &stagedStream{st: st, ns: ns, opts: opts, f: f, h: sha256.New()}, nil
}

// stagedStream is CreateStream's fallback for stores without a
// StreamCreator.
type stagedStream struct {
	st   Store
	ns   Namespace
	opts PutOptions
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

func (s *stagedStream) Write(p []byte) (int, error) {
	if s.done {
		return 0, errStreamDone
	}
	n, err := s.f.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	return n, err
}

var errStreamDone = errors.New("storage: stream already committed or aborted")

func (s *stagedStream) Commit(ctx context.Context) (Object, error) {
	if s.done {
		return Object{}, errStreamDone
	}
	defer s.Abort()
	var d Digest
	s.h.Sum(d[:0])
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return Object{}, fmt.Errorf("storage: commit stream: %w", err)
	}
	// Put hashes the staged bytes again and refuses them unless they are
	// the bytes that were written.
	return s.st.Put(ctx, Ref{Namespace: s.ns, Digest: d}, s.n, s.f, s.opts)
}

func (s *stagedStream) Abort() error {
	if s.done {
		return nil
	}
	s.done = true
	return s.f.Close()
}
