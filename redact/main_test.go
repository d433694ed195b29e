package redact

import (
	"os"
	"testing"

	"github.com/asticode/go-astiav"
)

func TestMain(m *testing.M) {
	// FFmpeg logs to stderr process-wide; keep test output readable.
	astiav.SetLogLevel(astiav.LogLevelError)
	os.Exit(m.Run())
}
