package fs_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
)

// Store an original under its SHA-256 with a retention date, then read it
// back through a HashingReader, as a download or the fixity checker does.
func Example() {
	ctx := context.Background()
	root, _ := os.MkdirTemp("", "opendems-example-")
	defer os.RemoveAll(root)
	st, err := fs.New(root, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	video := "not really a video"
	ref := storage.Ref{Namespace: storage.Originals, Digest: sha256.Sum256([]byte(video))}
	if _, err := st.Put(ctx, ref, int64(len(video)), strings.NewReader(video), storage.PutOptions{RetainUntil: time.Now().Add(time.Hour)}); err != nil {
		fmt.Println(err)
		return
	}
	rc, err := st.Open(ctx, ref, 0, -1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	v := storage.NewHashingReader(rc, ref.Digest, int64(len(video)))
	b, err := io.ReadAll(v)
	fmt.Println(string(b), err, v.Verified())
	fmt.Println(st.Delete(ctx, ref) != nil)
	// Output:
	// not really a video <nil> true
	// true
}
