package s3_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/s3"
	"github.com/opendems/opendems/storage/storagetest"
)

// minioServer is a private MinIO the test may kill -9 and restart on the
// same data directory and port.
type minioServer struct {
	bin, dir, addr string
	cmd            *exec.Cmd
}

func startMinio(t *testing.T) *minioServer {
	t.Helper()
	bin := os.Getenv("OPENDEMS_TEST_MINIO_BIN")
	if bin == "" {
		if storagetest.RequireServices() {
			t.Fatal("OPENDEMS_TEST_MINIO_BIN is unset (OPENDEMS_TEST_REQUIRE_SERVICES=1)")
		}
		t.Skip("OPENDEMS_TEST_MINIO_BIN is unset")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := &minioServer{bin: bin, dir: t.TempDir(), addr: addr}
	m.start(t)
	t.Cleanup(func() { m.kill() })
	return m
}

func (m *minioServer) start(t *testing.T) {
	t.Helper()
	m.cmd = exec.Command(m.bin, "server", "--quiet", "--address", m.addr, "--console-address", "127.0.0.1:0", filepath.Join(m.dir, "data"))
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=faulttest", "MINIO_ROOT_PASSWORD=faulttest-secret")
	log, err := os.OpenFile(filepath.Join(m.dir, "minio.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start minio: %v", err)
	}
	log.Close()
	for range 300 {
		resp, err := http.Get("http://" + m.addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("minio on %s did not become ready; see %s", m.addr, filepath.Join(m.dir, "minio.log"))
}

func (m *minioServer) kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Signal(syscall.SIGKILL)
		m.cmd.Wait()
		m.cmd = nil
	}
}

// gate yields data but, after first bytes, signals and blocks until
// released, so the server can be killed while the upload is in flight.
type gate struct {
	r       io.Reader
	first   int
	read    int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gate) Read(p []byte) (int, error) {
	if g.read >= g.first {
		g.once.Do(func() { close(g.reached) })
		<-g.release
	}
	if g.read < g.first && len(p) > g.first-g.read {
		p = p[:g.first-g.read]
	}
	n, err := g.r.Read(p)
	g.read += n
	return n, err
}

// TestMinioKilledMidUpload kills MinIO with SIGKILL while a Put is sending
// parts and after one part of a resumable upload was acknowledged. After a
// restart of MinIO (and of our side: a new Store), nothing unverified is
// visible, the acknowledged part is still there, and the upload resumes
// from the persisted Part and completes with the right bytes.
func TestMinioKilledMidUpload(t *testing.T) {
	m := startMinio(t)
	cfg := s3.Config{Endpoint: m.addr, AccessKey: "faulttest", SecretKey: "faulttest-secret", Bucket: "fault", PartSize: storage.MinPartSize, Buffers: 2}
	st := openStore(t, cfg)
	ctx := t.Context()
	if err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
	upData, upRef := storagetest.Content(storage.Originals, 200, 2*storage.MinPartSize+100)
	id, err := st.CreateUpload(ctx, upRef, int64(len(upData)), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	acked, err := st.WritePart(ctx, id, upRef, nil, bytes.NewReader(upData[:storage.MinPartSize]), storage.MinPartSize, nil)
	if err != nil {
		t.Fatal(err)
	}

	putData, putRef := storagetest.Content(storage.Originals, 201, 4*storage.MinPartSize)
	g := &gate{r: bytes.NewReader(putData), first: 2*storage.MinPartSize + 1000, reached: make(chan struct{}), release: make(chan struct{})}
	putErr := make(chan error, 1)
	go func() {
		_, err := st.Put(ctx, putRef, int64(len(putData)), g, storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
		putErr <- err
	}()
	<-g.reached
	m.kill()
	close(g.release)
	if err := <-putErr; err == nil {
		t.Fatal("Put succeeded although MinIO was killed during it")
	} else {
		t.Logf("Put during kill: %v", err)
	}

	m.start(t)
	st2 := openStore(t, cfg)
	if err := st2.Check(ctx); err != nil {
		t.Fatalf("Check after restart: %v", err)
	}
	if _, err := st2.Stat(ctx, putRef); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("interrupted Put is visible: %v", err)
	}
	// The sweeper finds the interrupted Put's upload (its abort could not
	// reach the dead server) and removes it.
	var stale []storage.UploadID
	if err := st2.ListUploads(ctx, time.Now().Add(time.Hour), func(u storage.UploadID, r storage.Ref, _ time.Time) error {
		if r == putRef {
			if err := st2.Abort(ctx, u, r); err != nil {
				return fmt.Errorf("abort %s: %w", u, err)
			}
			stale = append(stale, u)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("aborted %d interrupted upload(s) of the killed Put", len(stale))
	if len(stale) != 1 {
		t.Fatalf("ListUploads after restart found %d uploads of the killed Put, want 1", len(stale))
	}
	// Ask MinIO for the key exactly (its on-disk listing): nothing left.
	for u := range st2.Client().ListIncompleteUploads(ctx, cfg.Bucket, objectKey(putRef), false) {
		t.Fatalf("incomplete upload of the killed Put left on the server: %+v", u)
	}

	parts, err := st2.ListParts(ctx, id, upRef)
	if err != nil {
		t.Fatalf("ListParts after restart: %v", err)
	}
	if len(parts) != 1 || parts[0].ETag != acked.ETag {
		t.Fatalf("parts after restart %+v, want the acknowledged %+v", parts, acked)
	}
	p2, err := st2.WritePart(ctx, id, upRef, &acked, bytes.NewReader(upData[storage.MinPartSize:2*storage.MinPartSize]), storage.MinPartSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	p3, err := st2.WritePart(ctx, id, upRef, &p2, bytes.NewReader(upData[2*storage.MinPartSize:]), int64(len(upData)-2*storage.MinPartSize), nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := st2.Complete(ctx, id, upRef, []storage.Part{acked, p2, p3})
	if err != nil {
		t.Fatalf("Complete after restart: %v", err)
	}
	if obj.RetainUntil.IsZero() {
		t.Fatal("resumed original lost its retention")
	}
	rc, err := st2.Open(ctx, upRef, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(storage.NewHashingReader(rc, upRef.Digest, int64(len(upData))))
	if err != nil || !bytes.Equal(got, upData) {
		t.Fatalf("resumed object reads back wrong: %v", err)
	}
	if err := st2.ListUploads(ctx, time.Now().Add(time.Hour), func(u storage.UploadID, r storage.Ref, _ time.Time) error {
		return fmt.Errorf("upload %s for %s left after cleanup", u, r)
	}); err != nil {
		t.Fatal(err)
	}
}
