package jobs

import (
	"testing"
	"time"
)

func TestTranscodeTimeout(t *testing.T) {
	cases := []struct {
		secs float64
		min  time.Duration
		want time.Duration
	}{
		{0, 30 * time.Minute, 30 * time.Minute},
		{60, time.Minute, 9 * time.Minute},
		{3600, 30 * time.Minute, 5*time.Minute + 4*time.Hour},
		{10, 0, 5*time.Minute + 40*time.Second},
	}
	for _, c := range cases {
		if got := TranscodeTimeout(c.secs, c.min); got != c.want {
			t.Errorf("TranscodeTimeout(%v, %v) = %v, want %v", c.secs, c.min, got, c.want)
		}
	}
}

func TestSpriteTiles(t *testing.T) {
	for d, want := range map[float64]int{0: 10, 8: 10, 60: 12, 300: 60, 7200: 100} {
		if got := spriteTiles(d); got != want {
			t.Errorf("spriteTiles(%v) = %d, want %d", d, got, want)
		}
	}
}
