package redact

import (
	"context"
	"os"
	"testing"
)

func TestDebugRender(t *testing.T) {
	if os.Getenv("DBG") == "" {
		t.Skip()
	}
	spec, _ := Parse([]byte(`{"version": 1, "clip": {"source": "x"}}`))
	_, err := Render(context.Background(), spec, os.Getenv("DBG"), "/tmp/rt/out.mp4", RenderOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
}
