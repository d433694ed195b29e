package policy

import (
	"fmt"
	"os"
)

// Source yields the current model and policy files. Reload asks it for the
// files; Watch asks it for a cheap Version to notice edits.
type Source interface {
	// Load returns the files as they are now.
	Load() (Files, error)
	// Version changes whenever Load would return different files. A
	// source that never changes returns a constant.
	Version() (string, error)
}

// StaticSource is a fixed set of files, e.g. the embedded defaults from
// package configs/policy. It never changes, so Watch never reloads it.
type StaticSource Files

// Load returns the files.
func (s StaticSource) Load() (Files, error) { return Files(s), nil }

// Version is constant.
func (s StaticSource) Version() (string, error) { return "static", nil }

// FileSource reads a model and a policy file from disk, so an agency can
// edit them on a running server. The paths come from cmd's configuration.
type FileSource struct {
	ModelPath  string
	PolicyPath string
}

// Load reads both files.
func (s FileSource) Load() (Files, error) {
	mb, err := os.ReadFile(s.ModelPath)
	if err != nil {
		return Files{}, fmt.Errorf("policy: load model: %w", err)
	}
	pb, err := os.ReadFile(s.PolicyPath)
	if err != nil {
		return Files{}, fmt.Errorf("policy: load policy: %w", err)
	}
	return Files{ModelName: s.ModelPath, Model: mb, PolicyName: s.PolicyPath, Policy: pb}, nil
}

// Version is both files' modification time and size. Editors that replace
// a file (write temp, rename) change the time too, so renames are noticed.
func (s FileSource) Version() (string, error) {
	var v string
	for _, p := range []string{s.ModelPath, s.PolicyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("policy: stat %s: %w", p, err)
		}
		v += fmt.Sprintf("%s@%d/%d;", p, fi.ModTime().UnixNano(), fi.Size())
	}
	return v, nil
}
