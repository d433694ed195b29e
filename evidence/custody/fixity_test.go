package custody

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/storage"
)

// storedItem creates an item and stores its original in b.store.
func (b *bundle) storedItem(t *testing.T, content []byte) (uuid.UUID, storage.Digest) {
	t.Helper()
	id := b.newItem(t, content)
	d := storage.Digest(sha256Sum(content))
	if _, err := b.store.Put(context.Background(), storage.Ref{Namespace: storage.Originals, Digest: d},
		int64(len(content)), bytes.NewReader(content), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	return id, d
}

func TestFixityCatchesFlippedByte(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	content := bytes.Repeat([]byte("evidence video bytes "), 500)
	good, _ := b.storedItem(t, append([]byte("good "), content...))
	bad, badDigest := b.storedItem(t, content)
	missing := b.newItem(t, []byte("never stored"))
	reg := prometheus.NewRegistry()
	opts := FixityOptions{Registerer: reg}

	// Flip one byte of the stored original, behind the store's back.
	h := badDigest.String()
	path := filepath.Join(b.store.Root(), string(storage.Originals), h[0:2], h[2:4], h)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("original file: %v", err)
	}
	data[len(data)/2] ^= 0x01
	os.Chmod(path, 0o600)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	sum, err := CheckAllFixity(ctx, b.pool, b.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Checked != 3 || sum.OK != 1 || sum.Failed != 2 || sum.Errors != 0 {
		t.Fatalf("summary %+v", sum)
	}
	for _, r := range sum.Results {
		switch r.EvidenceID {
		case good:
			if r.Result != FixityOK || r.Event.Action != ActionFixityOK {
				t.Errorf("good item: %+v", r)
			}
		case bad:
			if r.Result != FixityFailed || !errors.Is(r.Err, storage.ErrDigestMismatch) || r.Event.Action != ActionFixityFailed {
				t.Errorf("corrupted item: %+v", r)
			}
		case missing:
			if r.Result != FixityFailed || !errors.Is(r.Err, storage.ErrNotFound) {
				t.Errorf("missing item: %+v", r)
			}
		}
	}
	for id, want := range map[uuid.UUID]bool{good: false, bad: true, missing: true} {
		var flagged bool
		var flags []string
		b.pool.QueryRow(ctx, `SELECT flagged, flags FROM evidence_items WHERE id = $1`, id).Scan(&flagged, &flags)
		if flagged != want || want != strings.Contains(strings.Join(flags, ","), "fixity_failed") {
			t.Errorf("item %s flagged=%v flags=%v, want %v", id, flagged, flags, want)
		}
	}
	evs, _ := Events(ctx, b.pool, bad)
	if len(evs) != 1 || evs[0].Action != ActionFixityFailed || !strings.Contains(string(evs[0].Details), "does not match") {
		t.Fatalf("custody of corrupted item: %+v", evs)
	}
	if got := counterValue(t, reg, "failed"); got != 2 {
		t.Fatalf("failed counter %v", got)
	}
	// A second check with the same registry reuses the collectors.
	r, err := CheckFixity(ctx, b.pool, b.store, bad, opts)
	if err != nil || r.Result != FixityFailed {
		t.Fatalf("recheck: %+v %v", r, err)
	}
	if got := counterValue(t, reg, "failed"); got != 3 {
		t.Fatalf("failed counter after recheck %v", got)
	}
	if _, err := CheckFixity(ctx, b.pool, b.store, uuid.New(), opts); !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("unknown item: %v", err)
	}
	rep, err := VerifyDB(ctx, b.pool, VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("custody after fixity: %+v %v", rep, err)
	}
}

// counterValue reads opendems_fixity_checks_total{result} from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "opendems_fixity_checks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestFixityScheduleCoversEveryItem(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for i := 0; i < 7; i++ {
		id, _ := b.storedItem(t, []byte(fmt.Sprintf("original %d", i)))
		ids = append(ids, id)
	}
	// Checked every 30 days by runs every 10 days: ceil(7*10/30) = 3 per run.
	opts := FixityOptions{Period: 30 * 24 * 3600e9, RunInterval: 10 * 24 * 3600e9}
	seen := map[uuid.UUID]int{}
	for run := 0; run < 3; run++ {
		sum, err := RunFixity(ctx, b.pool, b.store, opts)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Checked != 3 || sum.OK != 3 || sum.Total != 7 {
			t.Fatalf("run %d: %+v", run, sum)
		}
		for _, r := range sum.Results {
			seen[r.EvidenceID]++
		}
	}
	// Three runs (one period) checked all seven; the two extra checks went
	// to the items checked longest ago (the first run's).
	for _, id := range ids {
		if seen[id] == 0 {
			t.Fatalf("item %s never checked in a period: %v", id, seen)
		}
	}
	if _, err := RunFixity(ctx, b.pool, b.store, FixityOptions{MaxPerRun: -1}); !errors.Is(err, evidence.ErrInvalid) {
		t.Fatalf("negative MaxPerRun: %v", err)
	}
}
