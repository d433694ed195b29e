package transcode_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/opendems/opendems/transcode"
)

func TestProxySmoke(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.mp4")
	res, err := transcode.Proxy(context.Background(), media(t, "normal.mp4"), out, transcode.ProxyOptions{Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %s", res, out)
}

func TestProbeSmoke(t *testing.T) {
	for _, n := range []string{"normal.mp4", "odd.mkv", "rotated.mp4", "vfr.mp4", "audioonly.wav", "big.avi", "tagged.mov", "truncated.mp4", "garbage.bin"} {
		r, err := transcode.Probe(context.Background(), media(t, n))
		b, _ := json.MarshalIndent(r, "", " ")
		t.Logf("%s: %v\n%s", n, err, b)
	}
}
