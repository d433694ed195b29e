package bagit

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Bag is a bag opened for reading: a ZIP (one base directory inside) or a
// directory. It lists files by bag-relative path; it does not verify
// anything by itself (see Verify).
type Bag struct {
	// Path is what was opened; Format is "zip" or "directory"; Base is the
	// ZIP's base directory (empty for a directory bag).
	Path, Format, Base string
	sizes              map[string]int64
	names              []string // sorted
	zr                 *zip.Reader
	zfile              *os.File
	zfiles             map[string]*zip.File
	dir                string
	// problems found while listing (entries outside the base directory,
	// non-regular files, duplicate ZIP entries); Verify reports them.
	listProblems []Problem
}

// ErrNotBag marks input that cannot be read as a bag at all.
var ErrNotBag = errors.New("bagit: not a bag")

// Open opens a ZIP file or a bag directory.
func Open(path string) (*Bag, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBag, err)
	}
	if st.IsDir() {
		return openDir(path)
	}
	return openZip(path)
}

func openZip(path string) (*Bag, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBag, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrNotBag, err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrNotBag, path, err)
	}
	b := &Bag{Path: path, Format: "zip", sizes: map[string]int64{}, zr: zr, zfile: f, zfiles: map[string]*zip.File{}}
	b.listProblems = checkZipLayout(f, st.Size(), zr.File)
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") && f.UncompressedSize64 == 0 {
			continue // a directory entry
		}
		first, rest, ok := strings.Cut(f.Name, "/")
		if b.Base == "" && ok {
			b.Base = first
		}
		if !ok || first != b.Base || CheckPath(rest) != nil {
			b.listProblems = append(b.listProblems, Problem{Kind: KindContainer, File: f.Name,
				Message: fmt.Sprintf("ZIP entry %q is not a file inside the one base directory %q", f.Name, b.Base)})
			continue
		}
		if _, dup := b.zfiles[rest]; dup {
			b.listProblems = append(b.listProblems, Problem{Kind: KindContainer, File: rest, Message: "ZIP holds this file twice"})
			continue
		}
		if !f.Mode().IsRegular() {
			b.listProblems = append(b.listProblems, Problem{Kind: KindContainer, File: rest, Message: "not a regular file (" + f.Mode().String() + ")"})
			continue
		}
		b.zfiles[rest] = f
		b.sizes[rest] = int64(f.UncompressedSize64)
		b.names = append(b.names, rest)
	}
	if b.Base == "" {
		f.Close()
		return nil, fmt.Errorf("%w: %s: no base directory inside the ZIP", ErrNotBag, path)
	}
	sort.Strings(b.names)
	return b, nil
}

func openDir(dir string) (*Bag, error) {
	b := &Bag{Path: dir, Format: "directory", sizes: map[string]int64{}, dir: dir}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			b.listProblems = append(b.listProblems, Problem{Kind: KindContainer, File: rel, Message: "not a regular file (" + d.Type().String() + ")"})
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.sizes[rel] = info.Size()
		b.names = append(b.names, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotBag, dir, err)
	}
	sort.Strings(b.names)
	return b, nil
}

// Close releases the ZIP.
func (b *Bag) Close() error {
	if b.zfile != nil {
		return b.zfile.Close()
	}
	return nil
}

// Files lists the bag-relative paths of every file, sorted.
func (b *Bag) Files() []string { return b.names }

// Size returns a file's size and whether it exists.
func (b *Bag) Size(name string) (int64, bool) {
	n, ok := b.sizes[name]
	return n, ok
}

// OpenFile opens a bag-relative file for reading. A ZIP entry's CRC-32 is
// checked at its end by archive/zip.
func (b *Bag) OpenFile(name string) (io.ReadCloser, error) {
	if _, ok := b.sizes[name]; !ok {
		return nil, fmt.Errorf("bagit: %s: %w", name, fs.ErrNotExist)
	}
	if b.zr != nil {
		return b.zfiles[name].Open()
	}
	return os.Open(filepath.Join(b.dir, filepath.FromSlash(name)))
}

// maxTagFile bounds what is read into memory from a tag file, so a
// hostile bag cannot exhaust memory (a manifest line is ~150 bytes: this
// allows about a million payload files).
const maxTagFile = 256 << 20

// ReadFile reads a whole (tag) file, up to 256 MiB.
func (b *Bag) ReadFile(name string) ([]byte, error) {
	if n, ok := b.sizes[name]; ok && n > maxTagFile {
		return nil, fmt.Errorf("bagit: %s: %d bytes, more than a tag file may hold", name, n)
	}
	r, err := b.OpenFile(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, maxTagFile+1))
}
