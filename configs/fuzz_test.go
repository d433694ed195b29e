package configs

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: any file either loads into a configuration that validates or
// is refused with an error; it never panics.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(""))
	f.Add(DefaultYAML())
	f.Add([]byte("server:\n  listen: nope\n"))
	f.Add([]byte("storage:\n  backend: s3\n  s3:\n    endpoint: h:9000\n    access_key: a\n    secret_key: b\n"))
	f.Add([]byte("workers: [1, 2]\n"))
	f.Add([]byte("log: {level: debug, format: json}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, nil)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration that does not validate: %v", err)
		}
	})
}
