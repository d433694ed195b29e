package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/opendems/opendems/evidence/dock"
)

func loadConfig(path string) (dock.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return dock.Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := dock.ParseConfig(b)
	if err != nil {
		return dock.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// readToken takes the token from the flag, the file, or DEMS_DOCK_TOKEN.
func readToken(token, file string) (string, error) {
	if token != "" {
		return token, nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("token file %s is empty", file)
	}
	if t := os.Getenv("DEMS_DOCK_TOKEN"); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("--token, --token-file or DEMS_DOCK_TOKEN is required")
}
