package devseed

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestFaceClipCached: a face clip is encoded once; asking again (a restart
// over a fresh database) returns the same file untouched, at once.
func TestFaceClipCached(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	p1, err := faceClipFile(ctx, dir, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	st1, err := os.Stat(p1)
	if err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("DEVSEED_KEEP_CLIP"); out != "" {
		b, _ := os.ReadFile(p1)
		os.WriteFile(out, b, 0o644)
	}
	start := time.Now()
	p2, err := faceClipFile(ctx, dir, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	st2, err := os.Stat(p2)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 || !st1.ModTime().Equal(st2.ModTime()) || st1.Size() != st2.Size() {
		t.Fatalf("second call made %s (%v, %d B), first %s (%v, %d B)", p2, st2.ModTime(), st2.Size(), p1, st1.ModTime(), st1.Size())
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cached clip took %v", d)
	}
	if _, err := faceClipFile(ctx, dir, "nope"); err == nil {
		t.Fatal("unknown clip name accepted")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d files, want the one clip (no leftovers)", len(entries))
	}
}
