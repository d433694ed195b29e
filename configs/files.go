package configs

import (
	"fmt"
	"os"

	policyconf "github.com/opendems/opendems/configs/policy"
)

// File is a policy or schedule file as read: where it came from and its
// bytes.
type File struct {
	Source string
	Data   []byte
}

// ReadSchedule reads the retention schedule in force once: the file
// policy.retention_file names, or the embedded default. cmd parses the
// bytes once and hands the values to whoever needs them (the ingest lock,
// the retention service, the admin pages), so one process never reads
// the schedule twice or two parts see different schedules.
func (p Policy) ReadSchedule() (File, error) {
	if p.RetentionFile == "" {
		return File{Source: policyconf.RetentionName, Data: policyconf.Retention()}, nil
	}
	b, err := os.ReadFile(p.RetentionFile)
	if err != nil {
		return File{}, fmt.Errorf("config: policy.retention_file: %w", err)
	}
	return File{Source: p.RetentionFile, Data: b}, nil
}
