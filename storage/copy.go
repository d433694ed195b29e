package storage

import (
	"errors"
	"io"
)

// copyHoldBack is how many bytes CopyVerified keeps back until the whole
// object has been hashed.
const copyHoldBack = 64 << 10

// CopyVerified copies an object of size bytes from r to w while hashing
// it, and writes its last bytes only once the whole stream hashed to want.
// A mismatch (ErrDigestMismatch, ErrSizeMismatch) therefore reaches the
// receiver as a short body (fewer bytes than the Content-Length it was
// promised), never as a complete copy of altered evidence. It returns the
// bytes written and nil only when the object verified.
func CopyVerified(w io.Writer, r io.Reader, want Digest, size int64) (int64, error) {
	v := NewHashingReader(r, want, size)
	// Two buffers: the one being filled and the held-back tail.
	bufs := [2][]byte{make([]byte, copyHoldBack), make([]byte, copyHoldBack)}
	var held []byte
	var written int64
	for i := 0; ; i ^= 1 {
		n, err := io.ReadFull(v, bufs[i])
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		if err != nil && err != io.EOF {
			return written, err // mismatch or read failure: the tail stays unsent
		}
		if len(held) > 0 {
			m, werr := w.Write(held)
			written += int64(m)
			if werr != nil {
				return written, werr
			}
		}
		held = bufs[i][:n]
		if err == io.EOF { // only after the whole stream verified
			m, werr := w.Write(held)
			written += int64(m)
			return written, werr
		}
	}
}
