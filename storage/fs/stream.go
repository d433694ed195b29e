package fs

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"

	"github.com/opendems/opendems/storage"
)

var _ storage.StreamCreator = (*Store)(nil)

// CreateStream implements storage.StreamCreator: the bytes go into a
// temporary file under tmp/ and are hashed as they are written; Commit
// fsyncs the file and promotes it under its digest with the same sidecar
// + link steps as Put. Each byte is written once and never read back.
func (s *Store) CreateStream(ctx context.Context, ns storage.Namespace, opts storage.PutOptions) (storage.StreamWriter, error) {
	if !ns.Valid() {
		return nil, s.err("create-stream", storage.Ref{}, fmt.Errorf("namespace %q: %w", ns, storage.ErrInvalid))
	}
	if err := ctx.Err(); err != nil {
		return nil, s.err("create-stream", storage.Ref{}, err)
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "stream-*")
	if err != nil {
		return nil, s.err("create-stream", storage.Ref{}, err)
	}
	return &stream{s: s, ns: ns, opts: opts, f: f, h: sha256.New()}, nil
}

type stream struct {
	s    *Store
	ns   storage.Namespace
	opts storage.PutOptions
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

var errStreamDone = errors.New("stream already committed or aborted")

func (w *stream) Write(p []byte) (int, error) {
	if w.done {
		return 0, w.s.err("stream-write", storage.Ref{}, errStreamDone)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, w.s.err("stream-write", storage.Ref{}, err)
	}
	return n, nil
}

func (w *stream) Commit(ctx context.Context) (storage.Object, error) {
	if w.done {
		return storage.Object{}, w.s.err("stream-commit", storage.Ref{}, errStreamDone)
	}
	var ref storage.Ref
	ref.Namespace = w.ns
	w.h.Sum(ref.Digest[:0])
	fail := func(err error) (storage.Object, error) {
		w.Abort()
		return storage.Object{}, w.s.err("stream-commit", ref, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := w.f.Sync(); err != nil {
		return fail(err)
	}
	if err := w.f.Close(); err != nil {
		return fail(err)
	}
	w.done = true
	obj, err := w.s.promote(ref, w.f.Name(), w.n, w.opts) // removes the temporary file
	if err != nil {
		return storage.Object{}, w.s.err("stream-commit", ref, err)
	}
	return obj, nil
}

func (w *stream) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}
