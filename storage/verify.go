package storage

import (
	"crypto/sha256"
	"encoding"
	"fmt"
	"hash"
	"io"
)

// HashingReader re-hashes an object while it is read and turns a wrong
// size or digest into an error at the end of the stream instead of io.EOF.
// The fixity checker and downloads read originals through it so that a
// corrupted copy is reported (ErrDigestMismatch) rather than served as
// evidence. It never reports success before the last byte was read: a
// caller that stops early learns nothing about the object's integrity.
type HashingReader struct {
	r    io.Reader
	h    hash.Hash
	want Digest
	size int64 // expected bytes; < 0: not checked
	n    int64
	err  error // sticky result once the end was reached
}

// NewHashingReader returns a reader that yields r's bytes and, at EOF,
// returns ErrDigestMismatch if they do not hash to want, or
// ErrSizeMismatch if size >= 0 and a different number of bytes was read
// (more than size is reported as soon as it is seen).
func NewHashingReader(r io.Reader, want Digest, size int64) *HashingReader {
	return &HashingReader{r: r, h: sha256.New(), want: want, size: size}
}

// Read implements io.Reader.
func (v *HashingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	if n > 0 {
		v.h.Write(p[:n])
		v.n += int64(n)
		if v.size >= 0 && v.n > v.size {
			v.err = fmt.Errorf("read more than %d bytes: %w", v.size, ErrSizeMismatch)
			return n, v.err
		}
	}
	if err == io.EOF {
		v.err = v.verify()
		return n, v.err
	}
	return n, err
}

func (v *HashingReader) verify() error {
	if v.size >= 0 && v.n != v.size {
		return fmt.Errorf("read %d bytes, want %d: %w", v.n, v.size, ErrSizeMismatch)
	}
	if got := v.Sum(); got != v.want {
		return fmt.Errorf("content hashes to %s, want %s: %w", got, v.want, ErrDigestMismatch)
	}
	return io.EOF
}

// Sum returns the SHA-256 of the bytes read so far.
func (v *HashingReader) Sum() Digest {
	var d Digest
	v.h.Sum(d[:0])
	return d
}

// N returns the number of bytes read so far.
func (v *HashingReader) N() int64 { return v.n }

// Verified reports whether the whole stream was read and matched.
func (v *HashingReader) Verified() bool { return v.err == io.EOF }

// NewHashState returns a fresh SHA-256 whose state can be marshalled into
// Part.HashState.
func NewHashState() hash.Hash { return sha256.New() }

// MarshalHashState returns h's state for Part.HashState. h must come from
// NewHashState or RestoreHashState.
func MarshalHashState(h hash.Hash) ([]byte, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, fmt.Errorf("storage: hash %T cannot marshal its state: %w", h, ErrInvalid)
	}
	return m.MarshalBinary()
}

// RestoreHashState rebuilds a SHA-256 from a Part.HashState so that hashing
// can continue where a previous part (possibly in another process) ended.
// An empty state yields a fresh hash.
func RestoreHashState(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) == 0 {
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("storage: restore hash state: %v: %w", err, ErrInvalid)
	}
	return h, nil
}

// HashStateLen returns the number of bytes a marshalled SHA-256 state has
// hashed. The length is part of the state (the last 8 bytes, big endian, in
// crypto/sha256's format), so a state handed back by a caller can be
// checked against the declared object size without trusting the caller.
func HashStateLen(state []byte) (int64, error) {
	if len(state) == 0 {
		return 0, nil
	}
	if _, err := RestoreHashState(state); err != nil {
		return 0, err
	}
	var n uint64
	for _, b := range state[len(state)-8:] {
		n = n<<8 | uint64(b)
	}
	return int64(n), nil
}

// SumHashState returns the digest a marshalled state sums to.
func SumHashState(state []byte) (Digest, error) {
	h, err := RestoreHashState(state)
	if err != nil {
		return Digest{}, err
	}
	var d Digest
	h.Sum(d[:0])
	return d, nil
}

// Validate checks that r names a known namespace and a non-zero digest.
func (r Ref) Validate() error {
	if !r.Namespace.Valid() {
		return fmt.Errorf("unknown namespace %q: %w", r.Namespace, ErrInvalid)
	}
	if r.Digest.IsZero() {
		return fmt.Errorf("zero digest: %w", ErrInvalid)
	}
	return nil
}

// ClampRange returns how many bytes a read of length bytes at offset yields
// from an object of size bytes: length < 0 or a length past the end reads
// to the end. An offset outside [0, size] is ErrInvalid. Backends share it
// so that HTTP Range requests behave the same on every backend.
func ClampRange(size, offset, length int64) (int64, error) {
	if offset < 0 || offset > size {
		return 0, fmt.Errorf("offset %d outside object of %d bytes: %w", offset, size, ErrInvalid)
	}
	if length < 0 || length > size-offset {
		return size - offset, nil
	}
	return length, nil
}

// CheckComplete is the verification every backend's Complete makes before
// an object becomes visible: the parts end exactly at the declared size and
// the final whole-object hash state sums to the digest the object is put
// under.
func CheckComplete(end int64, finalState []byte, size int64, want Digest) error {
	if end != size {
		return fmt.Errorf("parts cover %d bytes, upload declared %d: %w", end, size, ErrSizeMismatch)
	}
	sum, err := SumHashState(finalState)
	if err != nil {
		return err
	}
	if sum != want {
		return fmt.Errorf("uploaded bytes hash to %s: %w", sum, ErrDigestMismatch)
	}
	return nil
}
