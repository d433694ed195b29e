package s3_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/s3"
	"github.com/opendems/opendems/storage/storagetest"
)

// recorder is an http.RoundTripper that remembers every request's method,
// path and headers, and can corrupt the body of part and object uploads.
type recorder struct {
	mu      sync.Mutex
	reqs    []*http.Request
	corrupt bool
	// holdCompletes, if > 0, holds every CompleteMultipartUpload request
	// until that many have arrived, then sends them all at once.
	holdCompletes int
	held          int
	release       chan struct{}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(req.Context()))
	corrupt := r.corrupt
	var wait chan struct{}
	if r.holdCompletes > 0 && req.Method == http.MethodPost && req.URL.Query().Has("uploadId") {
		r.held++
		wait = r.release
		if r.held == r.holdCompletes {
			close(r.release)
		}
	}
	r.mu.Unlock()
	if wait != nil {
		<-wait
	}
	if corrupt && req.Method == http.MethodPut && req.Body != nil && req.ContentLength > 100 &&
		!strings.Contains(req.URL.Path, "/_uploads/") {
		req.Body = &flipByte{r: req.Body, at: 100}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) sawHeader(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.reqs {
		if q.Header.Get(name) != "" {
			return true
		}
	}
	return false
}

// flipByte flips one bit of byte at, as a faulty network or disk would.
type flipByte struct {
	r   io.ReadCloser
	at  int64
	pos int64
}

func (f *flipByte) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		p[f.at-f.pos] ^= 0x01
	}
	f.pos += int64(n)
	return n, err
}

func (f *flipByte) Close() error { return f.r.Close() }

func recordingStore(t *testing.T, mode string) (*s3.Store, storagetest.S3, *recorder) {
	t.Helper()
	env := storagetest.S3Env(t)
	rec := &recorder{}
	cfg := configFor(env, mode)
	cfg.Transport = rec
	st := openStore(t, cfg)
	if err := st.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	return st, env, rec
}

func objectKey(ref storage.Ref) string { return string(ref.Namespace) + "/" + ref.Digest.String() }

func versions(t *testing.T, env storagetest.S3, prefix string) []minio.ObjectInfo {
	t.Helper()
	var vs []minio.ObjectInfo
	for v := range env.Admin.ListObjects(t.Context(), env.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		vs = append(vs, v)
	}
	return vs
}

func incompleteUploads(t *testing.T, env storagetest.S3) []string {
	t.Helper()
	var keys []string
	for u := range env.Admin.ListIncompleteUploads(t.Context(), env.Bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		keys = append(keys, u.Key)
	}
	return keys
}

func readVersion(t *testing.T, env storagetest.S3, k, version string) []byte {
	t.Helper()
	o, err := env.Admin.GetObject(t.Context(), env.Bucket, k, minio.GetObjectOptions{VersionID: version})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestComplianceLockHoldsAgainstEveryone shows that in COMPLIANCE mode a
// locked original can be neither deleted (by us, by the server path, or by
// an administrator sending the governance bypass) nor shortened, and that
// our Put never adds a version to it.
func TestComplianceLockHoldsAgainstEveryone(t *testing.T) {
	st, env, _ := recordingStore(t, s3.Compliance)
	ctx := t.Context()
	data, ref := storagetest.Content(storage.Originals, 100, 4000)
	// Short, because nobody can remove a COMPLIANCE object before then,
	// not even the test cleanup.
	until := time.Now().Add(20 * time.Second)
	if _, err := st.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{RetainUntil: until}); err != nil {
		t.Fatal(err)
	}
	vs := versions(t, env, objectKey(ref))
	if len(vs) != 1 {
		t.Fatalf("%d versions after Put, want 1", len(vs))
	}
	ver := vs[0].VersionID
	mode, _, err := env.Admin.GetObjectRetention(ctx, env.Bucket, objectKey(ref), ver)
	if err != nil || mode == nil || *mode != minio.Compliance {
		t.Fatalf("retention mode %v (%v), want COMPLIANCE", mode, err)
	}

	if err := st.Delete(ctx, ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete: %v, want ErrRetained", err)
	}
	if err := st.RemoveAllVersions(ctx, ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("server-side removal: %v, want ErrRetained from the server's refusal", err)
	}
	err = env.Admin.RemoveObject(ctx, env.Bucket, objectKey(ref), minio.RemoveObjectOptions{VersionID: ver, GovernanceBypass: true})
	if err == nil {
		t.Fatal("admin removal with governance bypass succeeded on a COMPLIANCE object")
	}
	t.Logf("admin delete with bypass refused: %v", err)
	earlier := time.Now().Add(10 * time.Second)
	for _, m := range []minio.RetentionMode{minio.Compliance, minio.Governance} {
		err = env.Admin.PutObjectRetention(ctx, env.Bucket, objectKey(ref), minio.PutObjectRetentionOptions{
			Mode: &m, RetainUntilDate: &earlier, VersionID: ver, GovernanceBypass: true})
		if err == nil {
			t.Fatalf("admin shortened COMPLIANCE retention (mode %s) with bypass", m)
		}
	}
	// Overwrite attempts through our API: other bytes are refused, the
	// same bytes return the existing object, and no version is added.
	other, _ := storagetest.Content(storage.Originals, 101, 4000)
	if _, err := st.Put(ctx, ref, int64(len(other)), bytes.NewReader(other), storage.PutOptions{}); !errors.Is(err, storage.ErrDigestMismatch) {
		t.Fatalf("Put of other bytes: %v, want ErrDigestMismatch", err)
	}
	if _, err := st.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{RetainUntil: time.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if vs := versions(t, env, objectKey(ref)); len(vs) != 1 || vs[0].VersionID != ver {
		t.Fatalf("versions after repeated Put: %+v", vs)
	}
	// Even a raw write by another client only adds a version; the locked
	// version keeps its bytes.
	if _, err := env.Admin.PutObject(ctx, env.Bucket, objectKey(ref), bytes.NewReader(other), int64(len(other)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := readVersion(t, env, objectKey(ref), ver); !bytes.Equal(got, data) {
		t.Fatal("locked version's bytes changed")
	}
}

// TestGovernanceBypassNeedsHeaderWeNeverSend shows that in GOVERNANCE
// mode the lock holds unless the bypass header is sent, that an
// administrator can bypass it with the header, and that none of our
// requests ever carried it.
func TestGovernanceBypassNeedsHeaderWeNeverSend(t *testing.T) {
	st, env, rec := recordingStore(t, s3.Governance)
	ctx := t.Context()
	data, ref := storagetest.Content(storage.Originals, 102, 3*storage.MinPartSize+5)
	if _, err := st.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ver := versions(t, env, objectKey(ref))[0].VersionID
	if err := st.Delete(ctx, ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete: %v, want ErrRetained", err)
	}
	if err := st.RemoveAllVersions(ctx, ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("server-side removal: %v, want ErrRetained", err)
	}
	if err := env.Admin.RemoveObject(ctx, env.Bucket, objectKey(ref), minio.RemoveObjectOptions{VersionID: ver}); err == nil {
		t.Fatal("removal without bypass header succeeded on a GOVERNANCE object")
	}
	if rec.sawHeader("X-Amz-Bypass-Governance-Retention") {
		t.Fatal("the backend sent the governance bypass header")
	}
	if err := env.Admin.RemoveObject(ctx, env.Bucket, objectKey(ref), minio.RemoveObjectOptions{VersionID: ver, GovernanceBypass: true}); err != nil {
		t.Fatalf("admin removal with bypass header: %v", err)
	}
	if _, err := st.Stat(ctx, ref); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after bypass removal: %v", err)
	}
}

// TestLegalHoldHoldsEvenWithBypass: a legal hold is not a retention and
// the governance bypass does not lift it.
func TestLegalHoldHoldsEvenWithBypass(t *testing.T) {
	st, env, _ := recordingStore(t, s3.Governance)
	ctx := t.Context()
	data, ref := storagetest.Content(storage.Originals, 103, 2000)
	if _, err := st.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{LegalHold: true}); err != nil {
		t.Fatal(err)
	}
	ver := versions(t, env, objectKey(ref))[0].VersionID
	if err := st.Delete(ctx, ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("Delete: %v, want ErrRetained", err)
	}
	if err := st.RemoveAllVersions(ctx, ref); !errors.Is(err, storage.ErrRetained) {
		t.Fatalf("server-side removal: %v, want ErrRetained", err)
	}
	if err := env.Admin.RemoveObject(ctx, env.Bucket, objectKey(ref), minio.RemoveObjectOptions{VersionID: ver, GovernanceBypass: true}); err == nil {
		t.Fatal("admin removal with bypass succeeded under legal hold")
	}
	if _, err := st.Stat(ctx, ref); err != nil {
		t.Fatalf("Stat: %v", err)
	}
}

// TestWrongDigestLeavesNothingOnServer looks at the raw bucket (every
// version, every incomplete multipart upload) after failed puts on both
// write paths and both sizes.
func TestWrongDigestLeavesNothingOnServer(t *testing.T) {
	st, env, _ := recordingStore(t, s3.Governance)
	ctx := t.Context()
	opts := storage.PutOptions{RetainUntil: time.Now().Add(time.Hour), LegalHold: true}
	for _, size := range []int{1000, 3*storage.MinPartSize + 7} {
		data, _ := storagetest.Content(storage.Originals, 104, size)
		_, claimed := storagetest.Content(storage.Originals, 105, size)
		if _, err := st.Put(ctx, claimed, int64(size), bytes.NewReader(data), opts); !errors.Is(err, storage.ErrDigestMismatch) {
			t.Fatalf("Put of %d bytes: %v, want ErrDigestMismatch", size, err)
		}
		id, err := st.CreateUpload(ctx, claimed, int64(size), opts)
		if err != nil {
			t.Fatal(err)
		}
		var parts []storage.Part
		var prev *storage.Part
		for off := 0; off < size; off += storage.MinPartSize {
			end := min(off+storage.MinPartSize, size)
			p, err := st.WritePart(ctx, id, claimed, prev, bytes.NewReader(data[off:end]), int64(end-off), nil)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
			prev = &parts[len(parts)-1]
		}
		if _, err := st.Complete(ctx, id, claimed, parts); !errors.Is(err, storage.ErrDigestMismatch) {
			t.Fatalf("Complete of %d bytes: %v, want ErrDigestMismatch", size, err)
		}
		if vs := versions(t, env, ""); len(vs) != 0 {
			t.Fatalf("bucket holds %d versions after failed puts of %d bytes, first %q", len(vs), size, vs[0].Key)
		}
		if ups := incompleteUploads(t, env); len(ups) != 0 {
			t.Fatalf("incomplete uploads left: %v", ups)
		}
	}
}

// TestCorruptedInTransitIsRejected flips one bit of every uploaded body
// between our process and MinIO: the server rejects it against the SHA-256
// we sent, Put fails with ErrDigestMismatch and nothing is left.
func TestCorruptedInTransitIsRejected(t *testing.T) {
	st, env, rec := recordingStore(t, s3.Governance)
	ctx := t.Context()
	rec.mu.Lock()
	rec.corrupt = true
	rec.mu.Unlock()
	for _, size := range []int{1000, 2*storage.MinPartSize + 3} {
		data, ref := storagetest.Content(storage.Originals, 106, size)
		_, err := st.Put(ctx, ref, int64(size), bytes.NewReader(data), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
		if !errors.Is(err, storage.ErrDigestMismatch) {
			t.Fatalf("Put of %d bytes through a corrupting link: %v, want ErrDigestMismatch", size, err)
		}
		if vs := versions(t, env, ""); len(vs) != 0 {
			t.Fatalf("bucket holds %d versions after corrupted put", len(vs))
		}
		if ups := incompleteUploads(t, env); len(ups) != 0 {
			t.Fatalf("incomplete uploads left: %v", ups)
		}
	}
}

func TestCheckCreatesBucketWithObjectLock(t *testing.T) {
	_, env := newStore(t, s3.Governance)
	enabled, _, _, _, err := env.Admin.GetObjectLockConfig(t.Context(), env.Bucket)
	if err != nil || enabled != "Enabled" {
		t.Fatalf("Object Lock of created bucket: %q, %v", enabled, err)
	}
}

func TestCheckRefusesBucketWithoutObjectLock(t *testing.T) {
	env := storagetest.S3Env(t)
	if err := env.Admin.MakeBucket(t.Context(), env.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, configFor(env, s3.Governance))
	err := st.Check(t.Context())
	if !errors.Is(err, s3.ErrNoObjectLock) {
		t.Fatalf("Check: %v, want ErrNoObjectLock", err)
	}
	if !strings.Contains(err.Error(), env.Bucket) || !strings.Contains(err.Error(), "Object Lock") {
		t.Fatalf("unclear error: %v", err)
	}
	t.Logf("Check: %v", err)
}

func TestCheckWrongCredentials(t *testing.T) {
	env := storagetest.S3Env(t)
	for _, tc := range []struct{ name, access, secret string }{
		{"wrong secret", env.AccessKey, "not-the-secret"},
		{"unknown access key", "nobody-here", "not-the-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configFor(env, s3.Governance)
			cfg.AccessKey, cfg.SecretKey = tc.access, tc.secret
			err := openStore(t, cfg).Check(t.Context())
			if !errors.Is(err, s3.ErrCredentials) {
				t.Fatalf("Check: %v, want ErrCredentials", err)
			}
			if errors.Is(err, s3.ErrUnreachable) || errors.Is(err, s3.ErrNoObjectLock) {
				t.Fatalf("Check error is ambiguous: %v", err)
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
			if !strings.Contains(err.Error(), tc.access) {
				t.Fatalf("error does not name the access key: %v", err)
			}
			t.Logf("Check: %v", err)
		})
	}
}

func TestCheckUnreachable(t *testing.T) {
	env := storagetest.S3Env(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := configFor(env, s3.Governance)
	cfg.Endpoint = addr
	err = openStore(t, cfg).Check(t.Context())
	if !errors.Is(err, s3.ErrUnreachable) || errors.Is(err, s3.ErrCredentials) {
		t.Fatalf("Check: %v, want only ErrUnreachable", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("error does not name the endpoint: %v", err)
	}
	t.Logf("Check: %v", err)
}

func TestWritePartLargerThanPartSize(t *testing.T) {
	st, _ := newStore(t, s3.Governance)
	data, ref := storagetest.Content(storage.Derivatives, 107, storage.MinPartSize+1)
	id, err := st.CreateUpload(t.Context(), ref, int64(len(data)), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.WritePart(t.Context(), id, ref, nil, bytes.NewReader(data), int64(len(data)), nil)
	if !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("WritePart above PartSize: %v, want ErrInvalid", err)
	}
	if err := st.Abort(t.Context(), id, ref); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultRetentionLocksOriginals(t *testing.T) {
	env := storagetest.S3Env(t)
	cfg := configFor(env, s3.Governance)
	cfg.DefaultRetention = time.Hour
	st := openStore(t, cfg)
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	data, orig := storagetest.Content(storage.Originals, 108, 100)
	obj, err := st.Put(ctx, orig, 100, bytes.NewReader(data), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(obj.RetainUntil); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("original retained until %v, want about an hour from now", obj.RetainUntil)
	}
	deriv := storage.Ref{Namespace: storage.Derivatives, Digest: orig.Digest}
	obj, err = st.Put(ctx, deriv, 100, bytes.NewReader(data), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !obj.RetainUntil.IsZero() {
		t.Fatalf("derivative retained until %v, want no retention", obj.RetainUntil)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := s3.Config{Endpoint: "127.0.0.1:9000", AccessKey: "a", SecretKey: "s", Bucket: "evidence"}
	for _, tc := range []struct {
		name   string
		change func(*s3.Config)
		want   string // substring of the error; "" means valid
	}{
		{"defaults", func(*s3.Config) {}, ""},
		{"compliance lower case", func(c *s3.Config) { c.RetentionMode = "compliance" }, ""},
		{"no endpoint", func(c *s3.Config) { c.Endpoint = "" }, "endpoint is empty"},
		{"scheme in endpoint", func(c *s3.Config) { c.Endpoint = "http://x:9000" }, "without scheme"},
		{"no access key", func(c *s3.Config) { c.AccessKey = "" }, "access_key"},
		{"no secret", func(c *s3.Config) { c.SecretKey = "" }, "secret_key"},
		{"bad bucket", func(c *s3.Config) { c.Bucket = "Evidence_Bucket" }, "bucket"},
		{"bad mode", func(c *s3.Config) { c.RetentionMode = "FOREVER" }, "retention_mode"},
		{"negative default retention", func(c *s3.Config) { c.DefaultRetention = -time.Hour }, "default_retention"},
		{"tiny parts", func(c *s3.Config) { c.PartSize = 1 << 20 }, "part_size"},
		{"no buffers", func(c *s3.Config) { c.Buffers = -1 }, "buffers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, s3.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want ErrConfig mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s\"") && c.SecretKey == "s" {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
	if s := ok.String(); strings.Contains(s, ok.SecretKey+"}") || strings.Contains(s, "secret") {
		t.Fatalf("String leaks the secret: %s", s)
	}
}

// TestConcurrentSameDigestMakesOneVersion: concurrent Puts of one large
// object all pass the existence check, then their completions are sent at
// the same instant; conditional completion (If-None-Match: *) lets exactly
// one create the object, the others return it, and no second version or
// unfinished upload is left.
func TestConcurrentSameDigestMakesOneVersion(t *testing.T) {
	st, env, rec := recordingStore(t, s3.Governance)
	ctx := t.Context()
	rec.mu.Lock()
	rec.holdCompletes, rec.release = 4, make(chan struct{})
	rec.mu.Unlock()
	data, ref := storagetest.Content(storage.Originals, 109, 2*storage.MinPartSize+1)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = st.Put(ctx, ref, int64(len(data)), bytes.NewReader(data), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if vs := versions(t, env, objectKey(ref)); len(vs) != 1 {
		t.Fatalf("%d versions of one digest, want 1", len(vs))
	}
	if vs := versions(t, env, "_uploads/"); len(vs) != 0 {
		t.Fatalf("%d upload records left", len(vs))
	}
	for u := range env.Admin.ListIncompleteUploads(ctx, env.Bucket, objectKey(ref), false) {
		t.Fatalf("unfinished upload left: %+v", u)
	}
}
