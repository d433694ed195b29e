package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/evidence/dock"
)

func statusCmd() *cobra.Command {
	var configPath string
	var asJSON bool
	var recent int
	c := &cobra.Command{
		Use:   "status --config FILE",
		Short: "Show the queue: each file's state, progress and last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return usageErr("--config is required")
			}
			cfg, err := loadConfig(configPath)
			if err != nil {
				return usageErr("%v", err)
			}
			st, source, err := readStatus(cfg, recent)
			if err != nil {
				return failErr(err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st, source)
			return nil
		},
	}
	c.Flags().StringVar(&configPath, "config", "", "dock config file (YAML)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	c.Flags().IntVar(&recent, "recent", 20, "how many finished files to list")
	return c
}

// readStatus reads the journal, or (while a daemon holds it) the snapshot
// the daemon writes after every round.
func readStatus(cfg dock.Config, recent int) (dock.Status, string, error) {
	path := filepath.Join(cfg.StateDir, dock.JournalFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return dock.Status{}, "no journal yet: the daemon has not run", nil
	}
	j, err := dock.OpenJournal(path, true, 300*time.Millisecond)
	if err == nil {
		defer j.Close()
		st, err := dock.ReadStatus(j, recent)
		return st, "journal", err
	}
	b, serr := os.ReadFile(filepath.Join(cfg.StateDir, dock.StatusFile))
	if serr != nil {
		return dock.Status{}, "", fmt.Errorf("journal busy or missing (%v) and no status snapshot (%v)", err, serr)
	}
	var st dock.Status
	if err := json.Unmarshal(b, &st); err != nil {
		return dock.Status{}, "", fmt.Errorf("status snapshot: %w", err)
	}
	if len(st.Recent) > recent {
		st.Recent = st.Recent[:recent]
	}
	return st, "daemon snapshot of " + st.UpdatedAt.Local().Format(time.DateTime), nil
}

func printStatus(w io.Writer, st dock.Status, source string) {
	fmt.Fprintf(w, "queue: %d file(s) (%s)\n", len(st.Queue), source)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(st.Queue) > 0 {
		fmt.Fprintln(tw, "STATE\tFILE\tPROGRESS\tATTEMPTS\tNEXT TRY\tLAST ERROR")
		for _, e := range st.Queue {
			next := ""
			if !e.NextAttempt.IsZero() {
				next = e.NextAttempt.Local().Format(time.TimeOnly)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", e.State, e.Path, progress(e), e.Attempts, next, short(e.LastError, 80))
		}
	}
	tw.Flush()
	if len(st.Recent) > 0 {
		fmt.Fprintf(w, "\nrecent:\n")
		fmt.Fprintln(tw, "STATE\tFILE\tEVIDENCE\tMOVED TO\tNOTE")
		for _, e := range st.Recent {
			note := ""
			if e.State != dock.StateReleased {
				note = short(e.LastError, 80)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.State, e.Path, e.EvidenceID, e.MovedTo, note)
		}
		tw.Flush()
	}
}

func progress(e dock.Entry) string {
	if e.Size == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%.0f%%)", e.Offset, e.Size, 100*float64(e.Offset)/float64(e.Size))
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
