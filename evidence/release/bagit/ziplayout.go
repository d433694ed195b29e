package bagit

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// checkZipLayout reads the ZIP's own bookkeeping, which archive/zip
// trusts without cross-checking, and reports where it could make other
// tools see something else than Verify does:
//
//   - every byte belongs to an entry, the central directory or its end
//     record: no data before the first entry, between entries, or after the
//     end record (ZIP comments are refused too), so nothing can hide in
//     the file outside what is verified;
//
//   - each entry's local header (what streaming extractors read) names the
//     same file, method, flags and time as the central directory (what
//     Verify reads), and its CRC-32 and sizes (in the header or the data
//     descriptor) agree with it.
//
//   - the central directory holds exactly the entries read, with no file
//     comments, all on one disk.
//
// Fields that carry no content and exist only in the central directory
// (version made by, file attributes: CentralOnlyFields) are not covered:
// changing them changes neither a name nor a byte of any file.
func checkZipLayout(r io.ReaderAt, size int64, files []*zip.File) []Problem {
	var probs []Problem
	bad := func(name, format string, args ...any) {
		probs = append(probs, Problem{Kind: KindContainer, File: name, Message: fmt.Sprintf(format, args...)})
	}
	sorted := append([]*zip.File(nil), files...)
	offsets := make(map[*zip.File]int64, len(files))
	for _, f := range sorted {
		off, err := f.DataOffset()
		if err != nil {
			bad(f.Name, "local header unreadable: %v", err)
			return probs
		}
		offsets[f] = off
	}
	sort.Slice(sorted, func(i, j int) bool { return offsets[sorted[i]] < offsets[sorted[j]] })
	var cur int64
	for _, f := range sorted {
		var h [30]byte
		if _, err := r.ReadAt(h[:], cur); err != nil {
			bad(f.Name, "local header unreadable at offset %d: %v", cur, err)
			return probs
		}
		le := binary.LittleEndian
		if le.Uint32(h[0:]) != 0x04034b50 {
			bad(f.Name, "bytes before its local header at offset %d (data outside any entry)", cur)
			return probs
		}
		nameLen, extraLen := int64(le.Uint16(h[26:])), int64(le.Uint16(h[28:]))
		if cur+30+nameLen+extraLen != offsets[f] {
			bad(f.Name, "local header at offset %d does not lead to the entry's data at %d", cur, offsets[f])
			return probs
		}
		name := make([]byte, nameLen+extraLen)
		if _, err := r.ReadAt(name, cur+30); err != nil {
			bad(f.Name, "local header unreadable: %v", err)
			return probs
		}
		name, extra := name[:nameLen], name[nameLen:]
		flags := le.Uint16(h[6:])
		switch {
		case string(name) != f.Name:
			bad(f.Name, "local header names %q: streaming extractors would see another file", name)
		case !versionAgrees(le.Uint16(h[4:]), flags, f) || flags != f.Flags || le.Uint16(h[8:]) != f.Method:
			bad(f.Name, "local header version, flags or method differ from the central directory")
		case le.Uint16(h[10:]) != f.ModifiedTime || le.Uint16(h[12:]) != f.ModifiedDate:
			bad(f.Name, "local header time differs from the central directory")
		case len(extra) > len(f.Extra) || string(extra) != string(f.Extra[:len(extra)]):
			// archive/zip writes the same extra fields in both headers, the
			// central one followed by ZIP64 sizes where needed.
			bad(f.Name, "local header extra fields differ from the central directory")
		case flags&0x8 == 0 && (le.Uint32(h[14:]) != f.CRC32 || !sizeMatches(le.Uint32(h[18:]), f.CompressedSize64) || !sizeMatches(le.Uint32(h[22:]), f.UncompressedSize64)):
			bad(f.Name, "local header CRC-32 or sizes differ from the central directory")
		case flags&0x8 != 0 && (le.Uint32(h[14:]) != 0 || le.Uint32(h[18:]) != 0 || le.Uint32(h[22:]) != 0):
			bad(f.Name, "local header of a streamed entry carries a CRC-32 or sizes")
		}
		cur = offsets[f] + int64(f.CompressedSize64)
		if flags&0x8 != 0 {
			n, err := checkDescriptor(r, cur, f)
			if err != nil {
				bad(f.Name, "%v", err)
				return probs
			}
			cur += n
		}
	}
	dirOff, dirEnd, err := centralDirectory(r, size)
	if err == nil {
		err = checkCentralHeaders(r, dirOff, len(files))
	}
	switch {
	case err != nil:
		bad("", "%v", err)
	case dirOff != cur:
		bad("", "%d bytes between the last entry and the central directory (data outside any entry)", dirOff-cur)
	case dirEnd != size:
		bad("", "%d bytes after the end of the central directory (a ZIP comment or appended data)", size-dirEnd)
	}
	return probs
}

// versionAgrees compares the local "version needed" with the central
// one. A streamed entry's local header is written before its size is
// known, so archive/zip writes 2.0 there and 4.5 in the central directory
// once the entry turned out to need ZIP64.
func versionAgrees(local, flags uint16, f *zip.File) bool {
	if local == f.ReaderVersion {
		return true
	}
	zip64 := f.CompressedSize64 >= 0xffffffff || f.UncompressedSize64 >= 0xffffffff
	return flags&0x8 != 0 && zip64 && local == 20 && f.ReaderVersion == 45
}

func sizeMatches(v uint32, want uint64) bool {
	return uint64(v) == want || (v == 0xffffffff && want >= 0xffffffff)
}

// checkDescriptor checks the data descriptor after a streamed entry and
// returns its length.
func checkDescriptor(r io.ReaderAt, off int64, f *zip.File) (int64, error) {
	var b [24]byte
	n, err := r.ReadAt(b[:], off)
	if n < 12 && err != nil {
		return 0, fmt.Errorf("data descriptor unreadable at offset %d: %v", off, err)
	}
	le := binary.LittleEndian
	var length int64
	p := b[:n]
	if le.Uint32(p) == 0x08074b50 { // optional signature, written by archive/zip
		p, length = p[4:], 4
	}
	zip64 := f.CompressedSize64 >= 0xffffffff || f.UncompressedSize64 >= 0xffffffff
	var crc uint32
	var csize, usize uint64
	switch {
	case zip64 && len(p) >= 20:
		crc, csize, usize = le.Uint32(p), le.Uint64(p[4:]), le.Uint64(p[12:])
		length += 20
	case !zip64 && len(p) >= 12:
		crc, csize, usize = le.Uint32(p), uint64(le.Uint32(p[4:])), uint64(le.Uint32(p[8:]))
		length += 12
	default:
		return 0, fmt.Errorf("data descriptor truncated at offset %d", off)
	}
	if crc != f.CRC32 || csize != f.CompressedSize64 || usize != f.UncompressedSize64 {
		return 0, fmt.Errorf("data descriptor (CRC-32 %08x, %d bytes) differs from the central directory (%08x, %d bytes)", crc, usize, f.CRC32, f.UncompressedSize64)
	}
	return length, nil
}

// CentralOnlyFields are the byte ranges of a central directory header that
// no check covers: version made by [4,6) and the internal and external
// file attributes [36,42). Tests use them to know what is deliberately left out.
var CentralOnlyFields = [][2]int{{4, 6}, {36, 42}}

// checkCentralHeaders walks the central directory: count entries, no file
// comments, everything on disk 0.
func checkCentralHeaders(r io.ReaderAt, off int64, want int) error {
	le := binary.LittleEndian
	for i := 0; i < want; i++ {
		var h [46]byte
		if _, err := r.ReadAt(h[:], off); err != nil || le.Uint32(h[:]) != 0x02014b50 {
			return fmt.Errorf("central directory header %d unreadable at offset %d", i+1, off)
		}
		if le.Uint16(h[32:]) != 0 || le.Uint16(h[34:]) != 0 {
			return fmt.Errorf("central directory header %d has a file comment or another disk", i+1)
		}
		off += 46 + int64(le.Uint16(h[28:])) + int64(le.Uint16(h[30:]))
	}
	return nil
}

// centralDirectory finds the central directory's offset and where the end
// of central directory record ends, requiring an empty ZIP comment.
func centralDirectory(r io.ReaderAt, size int64) (dirOff, end int64, err error) {
	le := binary.LittleEndian
	var eocd [22]byte
	if size < 22 {
		return 0, 0, fmt.Errorf("no end of central directory record")
	}
	if _, err := r.ReadAt(eocd[:], size-22); err != nil || le.Uint32(eocd[:]) != 0x06054b50 {
		return 0, 0, fmt.Errorf("the file does not end with an end of central directory record without comment (trailing data or a ZIP comment)")
	}
	if le.Uint16(eocd[4:]) != 0 || le.Uint16(eocd[6:]) != 0 || le.Uint16(eocd[8:]) != le.Uint16(eocd[10:]) {
		return 0, 0, fmt.Errorf("multi-disk ZIP, or entry counts that disagree")
	}
	dirOff = int64(le.Uint32(eocd[16:]))
	if dirOff != 0xffffffff {
		if d := int64(le.Uint32(eocd[12:])); dirOff+d != size-22 {
			return 0, 0, fmt.Errorf("%d bytes between the central directory and its end record", size-22-dirOff-d)
		}
		return dirOff, size, nil
	}
	// ZIP64: locator (20 bytes) before the EOCD, pointing at the ZIP64 EOCD.
	var loc [20]byte
	if _, err := r.ReadAt(loc[:], size-22-20); err != nil || le.Uint32(loc[:]) != 0x07064b50 {
		return 0, 0, fmt.Errorf("ZIP64 end of central directory locator missing")
	}
	rec := int64(le.Uint64(loc[8:]))
	var z [56]byte
	if _, err := r.ReadAt(z[:], rec); err != nil || le.Uint32(z[:]) != 0x06064b50 {
		return 0, 0, fmt.Errorf("ZIP64 end of central directory record missing")
	}
	if rec+12+int64(le.Uint64(z[4:])) != size-22-20 {
		return 0, 0, fmt.Errorf("bytes between the ZIP64 end records")
	}
	dirOff = int64(le.Uint64(z[48:]))
	if dirOff+int64(le.Uint64(z[40:])) != rec {
		return 0, 0, fmt.Errorf("bytes between the central directory and the ZIP64 end record")
	}
	return dirOff, size, nil
}
