package bagit

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options configure a Writer. The zero value writes an unsigned bag with
// only the computed bag-info elements.
type Options struct {
	// Info is written to bag-info.txt in this order, followed by
	// Bagging-Date (unless Info has one) and Payload-Oxum (always
	// computed; an Info element of that name is an error).
	Info Info
	// SigningKey, when set, signs the tag manifests (signature-ed25519.txt)
	// and embeds the public key (signing-key.pub).
	SigningKey ed25519.PrivateKey
	// Now is the bagging time (default time.Now); also the ZIP entries'
	// modification time.
	Now time.Time
}

// PayloadFile is one payload file as written (or verified).
type PayloadFile struct {
	Path   string `json:"path"` // bag-relative, starts with data/
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	SHA512 string `json:"sha512,omitempty"`
}

// ErrClosed is returned when a Writer is used after Close or a failure.
var ErrClosed = errors.New("bagit: writer closed")

// sink is where a Writer's files go: a ZIP stream or a directory.
type sink interface {
	// create starts the bag-relative file name; the previous file is done.
	create(name string) (io.Writer, error)
	// finish ends the last file and the container.
	finish() error
	// abort cleans up after a failure where possible.
	abort()
}

// Writer writes one bag. Files are added one at a time (it is not safe
// for concurrent use); Close writes the tag files.
type Writer struct {
	sink    sink
	opt     Options
	payload []PayloadFile
	tags    []tagFile
	seen    map[string]bool
	err     error
}

type tagFile struct {
	name string
	data []byte
}

func newWriter(s sink, opt Options) (*Writer, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	for _, f := range opt.Info {
		if strings.EqualFold(f.Label, "Payload-Oxum") {
			return nil, fmt.Errorf("bagit: Payload-Oxum is computed, not given")
		}
		if err := checkField(f); err != nil {
			return nil, err
		}
	}
	if opt.SigningKey != nil && len(opt.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("bagit: signing key has %d bytes, want %d", len(opt.SigningKey), ed25519.PrivateKeySize)
	}
	w := &Writer{sink: s, opt: opt, seen: map[string]bool{}}
	if err := w.writeFile(BagItFile, []byte(bagItDeclaration)); err != nil {
		s.abort()
		return nil, err
	}
	return w, nil
}

// NewZipWriter writes the bag as one ZIP stream to out, every file under
// the base directory name (RFC 8493 §4.2: a serialized bag unpacks to one
// directory; the ZIP file itself should be called name + ".zip"). Entries
// are stored, not compressed (the payload is video), with data
// descriptors, so nothing is buffered; ZIP64 records are written for
// files over 4 GiB. Close does not close out.
func NewZipWriter(out io.Writer, name string, opt Options) (*Writer, error) {
	if err := CheckPath(name); err != nil || strings.Contains(name, "/") {
		return nil, fmt.Errorf("bagit: base directory name %q: must be one path element", name)
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	return newWriter(&zipSink{zw: zip.NewWriter(out), base: name + "/", mod: opt.Now}, opt)
}

// NewDirWriter writes the bag into dir, which must not exist yet (its
// parent must); on failure the partial bag is removed.
func NewDirWriter(dir string, opt Options) (*Writer, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bagit: create bag directory: %w", err)
	}
	return newWriter(&dirSink{dir: dir}, opt)
}

// AddPayload streams r into data/<name>, hashing it on the way. name is
// relative to data/ and must be a clean relative path not added before.
func (w *Writer) AddPayload(ctx context.Context, name string, r io.Reader) (PayloadFile, error) {
	if w.err != nil {
		return PayloadFile{}, w.err
	}
	if err := CheckPath(name); err != nil {
		return PayloadFile{}, fmt.Errorf("bagit: payload %q: %w", name, err)
	}
	full := PayloadDir + name
	if w.seen[full] {
		return PayloadFile{}, fmt.Errorf("bagit: payload %q added twice", name)
	}
	out, err := w.sink.create(full)
	if err != nil {
		return PayloadFile{}, w.fail(fmt.Errorf("bagit: create %s: %w", full, err))
	}
	w.seen[full] = true
	h := newMultiHasher(-1, Algorithms)
	n, err := h.readFrom(ctxReader{ctx, r}, out)
	sums := h.sums()
	if err != nil {
		return PayloadFile{}, w.fail(fmt.Errorf("bagit: write %s: %w", full, err))
	}
	pf := PayloadFile{Path: full, Size: n, SHA256: hex.EncodeToString(sums["sha256"]), SHA512: hex.EncodeToString(sums["sha512"])}
	w.payload = append(w.payload, pf)
	return pf, nil
}

// AddTagFile adds a small tag file (outside data/), listed in the tag
// manifests. Names this package writes itself are refused.
func (w *Writer) AddTagFile(name string, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if err := CheckPath(name); err != nil {
		return fmt.Errorf("bagit: tag file %q: %w", name, err)
	}
	if strings.HasPrefix(name, PayloadDir) || reserved(name) || w.seen[name] {
		return fmt.Errorf("bagit: tag file name %q is reserved or already used", name)
	}
	w.seen[name] = true
	w.tags = append(w.tags, tagFile{name, data})
	return nil
}

func reserved(name string) bool {
	return name == BagItFile || name == BagInfoFile || name == SigningKey || name == SignatureFile ||
		strings.HasPrefix(name, "manifest-") || strings.HasPrefix(name, "tagmanifest-")
}

// Payload lists the payload written so far.
func (w *Writer) Payload() []PayloadFile { return w.payload }

// Close writes bag-info.txt, the manifests, the tag manifests and the
// signature, then ends the ZIP (or directory). The Writer cannot be used
// afterwards.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	var total int64
	for _, p := range w.payload {
		total += p.Size
	}
	info := append(Info(nil), w.opt.Info...)
	if _, ok := info.Get("Bagging-Date"); !ok {
		info = append(info, Field{"Bagging-Date", w.opt.Now.UTC().Format("2006-01-02")})
	}
	info = append(info, Field{"Payload-Oxum", strconv.FormatInt(total, 10) + "." + strconv.Itoa(len(w.payload))})
	infoBytes, err := FormatInfo(info)
	if err != nil {
		return w.fail(err)
	}
	files := append([]tagFile{}, w.tags...)
	files = append(files, tagFile{BagInfoFile, infoBytes})
	// Manifests, sorted by path so that the same payload gives the same bytes.
	sorted := append([]PayloadFile(nil), w.payload...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, alg := range Algorithms {
		var b bytes.Buffer
		for _, p := range sorted {
			sum, _ := hex.DecodeString(p.sum(alg))
			formatManifestLine(&b, sum, p.Path)
		}
		files = append(files, tagFile{ManifestName(alg), b.Bytes()})
	}
	var pub ed25519.PublicKey
	if w.opt.SigningKey != nil {
		pub = w.opt.SigningKey.Public().(ed25519.PublicKey)
		pem, err := MarshalPublicKeyPEM(pub)
		if err != nil {
			return w.fail(err)
		}
		files = append(files, tagFile{SigningKey, pem})
	}
	for _, f := range files {
		if err := w.writeFile(f.name, f.data); err != nil {
			return err
		}
	}
	// Tag manifests list bagit.txt and every tag file written above.
	all := append([]tagFile{{BagItFile, []byte(bagItDeclaration)}}, files...)
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	var sig Signature
	if pub != nil {
		sig = Signature{KeyID: KeyID(pub)}
	}
	for _, alg := range Algorithms {
		var b bytes.Buffer
		for _, f := range all {
			formatManifestLine(&b, sumBytes(alg, f.data), f.name)
		}
		name := TagManifestName(alg)
		if err := w.writeFile(name, b.Bytes()); err != nil {
			return err
		}
		if pub != nil {
			sig.Entries = append(sig.Entries, SignatureEntry{File: name, Sig: ed25519.Sign(w.opt.SigningKey, b.Bytes())})
		}
	}
	if pub != nil {
		if err := w.writeFile(SignatureFile, sig.Format()); err != nil {
			return err
		}
	}
	if err := w.sink.finish(); err != nil {
		return w.fail(fmt.Errorf("bagit: finish: %w", err))
	}
	w.err = ErrClosed
	return nil
}

func (p PayloadFile) sum(alg string) string {
	if alg == "sha512" {
		return p.SHA512
	}
	return p.SHA256
}

func (w *Writer) writeFile(name string, data []byte) error {
	out, err := w.sink.create(name)
	if err == nil {
		_, err = out.Write(data)
	}
	if err != nil {
		return w.fail(fmt.Errorf("bagit: write %s: %w", name, err))
	}
	return nil
}

// fail records the first error, cleans up, and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
		w.sink.abort()
	}
	return err
}

type zipSink struct {
	zw   *zip.Writer
	base string
	mod  time.Time
}

func (z *zipSink) create(name string) (io.Writer, error) {
	return z.zw.CreateHeader(&zip.FileHeader{Name: z.base + name, Method: zip.Store, Modified: z.mod.UTC()})
}
func (z *zipSink) finish() error { return z.zw.Close() }
func (z *zipSink) abort()        {} // the stream is the caller's; what was written is useless without a central directory

type dirSink struct {
	dir string
	cur *os.File
}

func (d *dirSink) closeCurrent() error {
	if d.cur == nil {
		return nil
	}
	f := d.cur
	d.cur = nil
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (d *dirSink) create(name string) (io.Writer, error) {
	if err := d.closeCurrent(); err != nil {
		return nil, err
	}
	p := filepath.Join(d.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	d.cur = f
	return f, nil
}

func (d *dirSink) finish() error { return d.closeCurrent() }
func (d *dirSink) abort() {
	if d.cur != nil {
		d.cur.Close()
		d.cur = nil
	}
	os.RemoveAll(d.dir)
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
