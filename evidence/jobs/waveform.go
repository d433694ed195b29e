package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/transcode"
)

// KindWaveform is the derivative kind of an item's audio envelope.
const KindWaveform = "waveform"

// maxWaveformBytes bounds what is read back from storage (the envelope is
// capped at 40000 buckets, well under this as JSON).
const maxWaveformBytes = 2 << 20

// Waveforms serves the peak envelope of an item's audio to the redaction
// editor's mute lane (evidence/request's WaveformSource), so the browser
// never downloads and decodes the audio itself. The envelope is computed
// from the item's proxy on first use (transcode.Peaks, in process) and
// kept as the item's "waveform" derivative, a small JSON object that
// names the proxy it came from; a new proxy makes a new envelope. Purges
// remove it with the item's other derivatives.
type Waveforms struct {
	Pool    *pgxpool.Pool
	Storage storage.Store
	// TempDir holds the proxy copied out of storage while it is decoded;
	// "" means os.TempDir().
	TempDir string
	// Options tunes the envelope (zero: 10 ms buckets, at most 40000).
	Options transcode.WaveformOptions

	// computing serialises computations: they are rare (once per proxy)
	// and each decodes a whole audio track, so two editors opening the
	// same item at once make one envelope, not two.
	computing sync.Mutex
}

// waveformDoc is the stored and served document: transcode.Waveform plus
// whether the item has audio at all.
type waveformDoc struct {
	*transcode.Waveform
	NoAudio bool `json:"no_audio,omitempty"`
}

// Waveform returns the item's envelope as JSON ({"rate", "duration",
// "peaks": [min0, max0, ...]}, or {"no_audio": true, "peaks": []}). An item
// without a proxy yet is an evidence.ErrConflict.
func (w *Waveforms) Waveform(ctx context.Context, item uuid.UUID) ([]byte, error) {
	b, missing, err := w.cached(ctx, item)
	if err != nil || missing == nil {
		return b, err
	}
	w.computing.Lock()
	defer w.computing.Unlock()
	// Someone may have made it while this call waited.
	if b, missing, err = w.cached(ctx, item); err != nil || missing == nil {
		return b, err
	}
	if b, err = w.compute(ctx, item, missing.source, missing.proxy, missing.size); err != nil {
		return nil, fmt.Errorf("waveform: %w", err)
	}
	return b, nil
}

// proxyRef is what compute needs when no current envelope is stored.
type proxyRef struct {
	source, proxy storage.Digest
	size          int64
}

// cached returns the stored envelope of the item's current proxy, or
// (nil, the proxy, nil) when there is none yet.
func (w *Waveforms) cached(ctx context.Context, item uuid.UUID) ([]byte, *proxyRef, error) {
	const op = "waveform"
	var (
		source, proxySum, waveSum []byte
		proxySize, waveSize       int64
		waveProxy                 string
	)
	err := w.Pool.QueryRow(ctx, `SELECT i.sha256,
			p.sha256, coalesce(p.size, 0),
			wf.sha256, coalesce(wf.size, 0), coalesce(wf.details ->> 'proxy_sha256', '')
		FROM evidence_items i
		LEFT JOIN LATERAL (SELECT sha256, size FROM evidence_derivatives WHERE evidence_id = i.id AND kind = 'proxy' ORDER BY created_at DESC LIMIT 1) p ON true
		LEFT JOIN LATERAL (SELECT sha256, size, details FROM evidence_derivatives WHERE evidence_id = i.id AND kind = $2 ORDER BY created_at DESC LIMIT 1) wf ON true
		WHERE i.id = $1`, item, KindWaveform).Scan(&source, &proxySum, &proxySize, &waveSum, &waveSize, &waveProxy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, evidence.NotFound("evidence item")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(proxySum) != 32 || len(source) != 32 {
		return nil, nil, evidence.E(evidence.ErrConflict, op, "the item has no proxy yet, so no waveform", nil)
	}
	proxy := storage.Digest(proxySum)
	if len(waveSum) == 32 && waveProxy == proxy.String() && waveSize <= maxWaveformBytes {
		b, err := w.read(ctx, storage.Digest(waveSum), waveSize)
		return b, nil, err
	}
	return nil, &proxyRef{source: storage.Digest(source), proxy: proxy, size: proxySize}, nil
}

func (w *Waveforms) read(ctx context.Context, d storage.Digest, size int64) ([]byte, error) {
	rc, err := w.Storage.Open(ctx, storage.Ref{Namespace: storage.Derivatives, Digest: d}, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("waveform: open: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(storage.NewHashingReader(rc, d, size))
	if err != nil {
		return nil, fmt.Errorf("waveform: read: %w", err)
	}
	return b, nil
}

// compute copies the proxy out of storage (verified while copying),
// decodes its audio and records the envelope as a derivative.
func (w *Waveforms) compute(ctx context.Context, item uuid.UUID, source, proxy storage.Digest, size int64) ([]byte, error) {
	dir, err := os.MkdirTemp(w.TempDir, "waveform-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "proxy.mp4")
	rc, err := w.Storage.Open(ctx, storage.Ref{Namespace: storage.Derivatives, Digest: proxy}, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("open proxy: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		rc.Close()
		return nil, err
	}
	_, err = io.Copy(f, storage.NewHashingReader(rc, proxy, size))
	rc.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("copy proxy: %w", err)
	}
	doc := waveformDoc{}
	doc.Waveform, err = transcode.Peaks(ctx, path, w.Options)
	if errors.Is(err, transcode.ErrNoAudio) {
		doc.Waveform, doc.NoAudio, err = &transcode.Waveform{Peaks: []int8{}}, true, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	tw := TranscodeWorker{Pool: w.Pool, Storage: w.Storage}
	details := map[string]any{"content_type": "application/json", "proxy_sha256": proxy.String(), "rate": doc.Rate, "buckets": len(doc.Peaks) / 2}
	if err := tw.storeBytes(ctx, item, source, KindWaveform, b, "application/json", details); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return b, nil
}
