package dock

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

// Progress shows one file's progress (a terminal progress bar in
// dems-dock). Phase starts a phase ("hash", "upload") of total bytes.
type Progress interface {
	Phase(name string, total int64)
	Set(done int64)
	Done()
}

// PushOptions configure Push.
type PushOptions struct {
	Metadata wire.Metadata
	// JSON prints one line per verified file to Out:
	// {"file","sha256","size","evidence_id","receipt"}; otherwise a
	// human-readable line.
	JSON bool
	Out  io.Writer
	// Errs receives one line per failed file.
	Errs io.Writer
	// NewProgress, if set, makes a Progress for each file.
	NewProgress func(file string) Progress
	// Parallel is how many files upload at once (default 1): while one
	// file's chunk is being stored, another's is on the wire.
	Parallel int
}

// PushLine is the --json output for one file.
type PushLine struct {
	File       string          `json:"file"`
	SHA256     string          `json:"sha256"`
	Size       int64           `json:"size"`
	EvidenceID string          `json:"evidence_id"`
	Receipt    receipt.Receipt `json:"receipt"`
}

// Push uploads files one after another (`dems-dock push`) and returns how
// many did not end with a verified receipt.
func Push(ctx context.Context, up *Uploader, files []string, opts PushOptions) int {
	var mu sync.Mutex // serializes output lines and the failure count
	failed := 0
	report := func(f string, res Result, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil && opts.JSON {
			var b []byte
			b, err = json.Marshal(PushLine{File: f, SHA256: res.SHA256, Size: res.Size, EvidenceID: res.EvidenceID, Receipt: res.Receipt})
			if err == nil {
				fmt.Fprintf(opts.Out, "%s\n", b)
				return
			}
		}
		if err != nil {
			failed++
			fmt.Fprintf(opts.Errs, "%s: %v\n", f, err)
			return
		}
		dup := ""
		if res.Duplicate {
			dup = " (already held: duplicate recorded)"
		}
		fmt.Fprintf(opts.Out, "%s: evidence %s, %d bytes, sha256 %s, receipt verified%s\n",
			filepath.Base(f), res.EvidenceID, res.Size, res.SHA256, dup)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range max(1, opts.Parallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				var pr Progress
				if opts.NewProgress != nil {
					pr = opts.NewProgress(f)
				}
				res, err := pushOne(ctx, up, f, opts.Metadata, pr)
				report(f, res, err)
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return failed
}

func pushOne(ctx context.Context, up *Uploader, path string, meta wire.Metadata, pr Progress) (Result, error) {
	var hashProgress func(int64)
	if pr != nil {
		defer pr.Done()
		var done int64
		if st, err := statSize(path); err == nil {
			pr.Phase("hash", st)
		}
		hashProgress = func(n int64) { done += n; pr.Set(done) }
	}
	h, err := HashFile(ctx, path, hashProgress)
	if err != nil {
		return Result{}, err
	}
	u := Upload{Path: path, Hash: h, Metadata: meta}
	if pr != nil {
		pr.Phase("upload", h.Size)
		u.Progress = func(done, _ int64) { pr.Set(done) }
	}
	return up.Upload(ctx, u)
}
