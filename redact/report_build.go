package redact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
)

// The report's types and files live in package spec (pure Go); what the
// render knows (the plan's counts, the output's hash) is filled in here.

// buildItems lists the spec's redactions with what the plan applied.
func buildItems(s *Spec, p *Plan, in, out float64) []ReportItem {
	clip := func(t float64) float64 { return max(0, min(t, out)-in) }
	var items []ReportItem
	for _, r := range s.Regions {
		a, b := r.Window()
		m := string(r.Effect.Type)
		switch r.Effect.Type {
		case EffectBlur:
			m += " strength " + strconv.Itoa(r.Effect.Strength)
		case EffectPixelate:
			m += " block " + strconv.Itoa(r.Effect.BlockSize) + "px"
		case EffectFill:
			m += " " + r.Effect.Color
		}
		items = append(items, ReportItem{
			ID: r.ID, Kind: KindRegion, Start: a, End: b, OutputStart: clip(a), OutputEnd: clip(b),
			Method: m + " (" + string(r.Shape) + ")", Reason: r.Reason, Origin: r.Origin,
			Confidence: r.Confidence, Keyframes: len(r.Keyframes), Frames: p.frames[r.ID],
		})
	}
	for _, f := range s.FullFrameBlur {
		items = append(items, ReportItem{
			ID: f.ID, Kind: KindFullFrame, Start: f.Start, End: f.End, OutputStart: clip(f.Start), OutputEnd: clip(f.End),
			Method: "full-frame blur strength " + strconv.Itoa(f.Strength), Reason: f.Reason, Origin: OriginManual,
			Frames: p.frames[f.ID],
		})
	}
	for _, a := range s.Audio {
		m := "mute (digital silence)"
		if a.Action == AudioBleep {
			m = "bleep " + strconv.FormatFloat(a.Frequency, 'f', -1, 64) + " Hz tone"
		}
		items = append(items, ReportItem{
			ID: a.ID, Kind: KindAudio, Start: a.Start, End: a.End, OutputStart: clip(a.Start), OutputEnd: clip(a.End),
			Method: m, Reason: a.Reason, Origin: a.Origin, Samples: p.samples[a.ID],
		})
	}
	if sl := s.Slate; sl != nil {
		a, b := sl.Start, sl.End
		if a == 0 && b == 0 {
			a, b = in, out
		}
		items = append(items, ReportItem{
			ID: "slate", Kind: KindSlate, Start: a, End: b, OutputStart: clip(a), OutputEnd: clip(b),
			Method: "burned-in text " + strconv.Quote(sl.Text) + " (" + string(sl.Position) + ")",
			Reason: "release marking", Origin: OriginManual, Frames: p.frames["slate"],
		})
	}
	return items
}

// hashFile returns the size and SHA-256 of a file, stopping early when ctx
// is done (sources can be many gigabytes).
func hashFile(ctx context.Context, path string) (FileDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileDigest{}, fmt.Errorf("redact: hashing: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return FileDigest{}, fmt.Errorf("redact: hashing %s: %w", path, err)
		}
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return FileDigest{}, fmt.Errorf("redact: hashing %s: %w", path, err)
		}
	}
	return FileDigest{Path: path, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
