package fs_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
	"github.com/opendems/opendems/storage/storagetest"
)

const crashChildEnv = "OPENDEMS_FS_CRASH_CHILD_ROOT"

// stall yields n bytes, then announces itself on stdout and blocks
// forever: the process gets killed while a write is half done.
type stall struct {
	r    io.Reader
	n    int
	msg  string
	said bool
}

func (s *stall) Read(p []byte) (int, error) {
	if s.n <= 0 {
		if !s.said {
			s.said = true
			fmt.Println(s.msg)
		}
		select {}
	}
	if len(p) > s.n {
		p = p[:s.n]
	}
	n, err := s.r.Read(p)
	s.n -= n
	return n, err
}

type ack struct {
	ID   storage.UploadID
	Part storage.Part
}

// TestCrashChild is the process that gets killed; it does nothing unless
// started by TestKilledMidWrite.
func TestCrashChild(t *testing.T) {
	root := os.Getenv(crashChildEnv)
	if root == "" {
		return
	}
	st, err := fs.New(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	upData, upRef := storagetest.Content(storage.Originals, 300, 3000)
	id, err := st.CreateUpload(ctx, upRef, 3000, storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := st.WritePart(ctx, id, upRef, nil, bytes.NewReader(upData[:1000]), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ack{id, p1})
	fmt.Println(string(b)) // the acknowledgement the parent persists
	putData, putRef := storagetest.Content(storage.Originals, 301, 100_000)
	go st.Put(ctx, putRef, int64(len(putData)), &stall{r: bytes.NewReader(putData), n: 50_000, msg: "put stalled"}, storage.PutOptions{})
	go st.WritePart(ctx, id, upRef, &p1, &stall{r: bytes.NewReader(upData[1000:2000]), n: 500, msg: "part stalled"}, 1000, nil)
	select {}
}

// TestKilledMidWrite kills (SIGKILL) a process in the middle of a Put and
// of a WritePart, after one part was acknowledged. Afterwards nothing
// half-written is visible, the acknowledged part is intact, and the upload
// resumes from it and completes.
func TestKilledMidWrite(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var a ack
	stalled := 0
	for stalled < 2 && sc.Scan() {
		line := sc.Text()
		switch line {
		case "put stalled", "part stalled":
			stalled++
		default:
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatalf("child said %q", line)
			}
		}
	}
	if stalled < 2 || a.ID == "" {
		t.Fatalf("child ended early (ack %+v, %d stalled): %v", a, stalled, sc.Err())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	st := newStore(t, root)
	ctx := t.Context()
	_, putRef := storagetest.Content(storage.Originals, 301, 100_000)
	if _, err := st.Stat(ctx, putRef); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("killed Put is visible: %v", err)
	}
	upData, upRef := storagetest.Content(storage.Originals, 300, 3000)
	if _, err := st.Stat(ctx, upRef); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unfinished upload is visible: %v", err)
	}
	parts, err := st.ListParts(ctx, a.ID, upRef)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].ETag != a.Part.ETag {
		t.Fatalf("parts after crash: %+v, want only the acknowledged %+v", parts, a.Part)
	}
	p2, err := st.WritePart(ctx, a.ID, upRef, &a.Part, bytes.NewReader(upData[1000:2000]), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	p3, err := st.WritePart(ctx, a.ID, upRef, &p2, bytes.NewReader(upData[2000:]), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Complete(ctx, a.ID, upRef, []storage.Part{a.Part, p2, p3}); err != nil {
		t.Fatalf("Complete after crash: %v", err)
	}
	rc, err := st.Open(ctx, upRef, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(storage.NewHashingReader(rc, upRef.Digest, 3000)); err != nil || !bytes.Equal(got, upData) {
		t.Fatalf("resumed object: %v", err)
	}
	// The killed Put's temporary file is invisible garbage; the cleanup
	// removes it.
	n, err := st.RemoveStaleTemp(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemp removed %d (%v), want the killed Put's temp file", n, err)
	}
	if left := dirEntries(t, root+"/tmp"); len(left) != 0 {
		t.Fatalf("tmp/ still holds %v", left)
	}
}
