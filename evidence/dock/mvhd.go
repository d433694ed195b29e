package dock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors of MP4CreationTime.
var (
	ErrNotMP4          = errors.New("not an MP4/QuickTime file (no moov/mvhd box)")
	ErrNoCreationTime  = errors.New("MP4 movie header has no usable creation time")
	ErrMalformedMP4Box = errors.New("malformed MP4 box")
)

// mp4Epoch is the MP4/QuickTime time origin.
var mp4Epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

// maxBoxes bounds the boxes visited, so a hostile file cannot make the
// parser loop for long.
const maxBoxes = 100000

// MP4CreationTime reads the creation time from the movie header box
// (moov/mvhd) of an MP4 or QuickTime file of the given size. It reads only
// box headers and the 28 bytes of mvhd it needs, wherever moov is (start
// or end of the file). A zero or pre-1970 time (cameras without a clock
// write 0) is ErrNoCreationTime. Hand-written: the standard library has no
// MP4 parser and the agent must stay pure Go and small.
func MP4CreationTime(r io.ReaderAt, size int64) (time.Time, error) {
	boxes := 0
	moov, moovEnd, err := findBox(r, 0, size, "moov", &boxes)
	if err != nil {
		return time.Time{}, err
	}
	mvhd, mvhdEnd, err := findBox(r, moov, moovEnd, "mvhd", &boxes)
	if err != nil {
		return time.Time{}, err
	}
	var hdr [4 + 16]byte
	n := int64(len(hdr))
	if mvhdEnd-mvhd < 8 {
		return time.Time{}, fmt.Errorf("%w: mvhd of %d bytes", ErrMalformedMP4Box, mvhdEnd-mvhd)
	}
	if mvhdEnd-mvhd < n {
		n = mvhdEnd - mvhd
	}
	if _, err := r.ReadAt(hdr[:n], mvhd); err != nil && !(errors.Is(err, io.EOF) && n == int64(len(hdr))) {
		return time.Time{}, fmt.Errorf("mp4: reading mvhd: %w", err)
	}
	var secs uint64
	switch version := hdr[0]; version {
	case 0:
		secs = uint64(binary.BigEndian.Uint32(hdr[4:8]))
	case 1:
		if n < 12 {
			return time.Time{}, fmt.Errorf("%w: version 1 mvhd of %d bytes", ErrMalformedMP4Box, n)
		}
		secs = binary.BigEndian.Uint64(hdr[4:12])
	default:
		return time.Time{}, fmt.Errorf("%w: mvhd version %d", ErrMalformedMP4Box, version)
	}
	// Year 2200 is about 9.3e9 seconds after 1904: reject anything later
	// before it can overflow a Duration.
	if secs == 0 || secs > 9_400_000_000 {
		return time.Time{}, ErrNoCreationTime
	}
	t := mp4Epoch.Add(time.Duration(secs) * time.Second)
	if t.Year() < 1970 || t.Year() > 2200 {
		return time.Time{}, ErrNoCreationTime
	}
	return t, nil
}

// findBox returns the payload range [start, end) of the first box of type
// typ among the boxes that fill [off, end).
func findBox(r io.ReaderAt, off, end int64, typ string, boxes *int) (int64, int64, error) {
	for off+8 <= end {
		*boxes++
		if *boxes > maxBoxes {
			return 0, 0, fmt.Errorf("%w: more than %d boxes", ErrMalformedMP4Box, maxBoxes)
		}
		var h [16]byte
		if _, err := r.ReadAt(h[:8], off); err != nil {
			return 0, 0, fmt.Errorf("mp4: box header at %d: %w", off, err)
		}
		size, hdr := int64(binary.BigEndian.Uint32(h[:4])), int64(8)
		switch size {
		case 0: // extends to the end
			size = end - off
		case 1: // 64-bit size follows
			if off+16 > end {
				return 0, 0, fmt.Errorf("%w: truncated large box header at %d", ErrMalformedMP4Box, off)
			}
			if _, err := r.ReadAt(h[8:16], off+8); err != nil {
				return 0, 0, fmt.Errorf("mp4: box header at %d: %w", off, err)
			}
			u := binary.BigEndian.Uint64(h[8:16])
			if u > uint64(end-off) {
				return 0, 0, fmt.Errorf("%w: box at %d of %d bytes runs past %d", ErrMalformedMP4Box, off, u, end)
			}
			size, hdr = int64(u), 16
		}
		if size < hdr || size > end-off {
			return 0, 0, fmt.Errorf("%w: box %q at %d has size %d (room for %d)", ErrMalformedMP4Box, h[4:8], off, size, end-off)
		}
		if string(h[4:8]) == typ {
			return off + hdr, off + size, nil
		}
		off += size
	}
	return 0, 0, fmt.Errorf("%w: no %s box", ErrNotMP4, typ)
}
