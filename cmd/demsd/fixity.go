package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
)

func fixityCmd() *cobra.Command {
	var path, id string
	var all bool
	cmd := &cobra.Command{
		Use:   "fixity (--evidence ID | --all)",
		Short: "Re-hash originals in storage now and record the results in their chains of custody",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (id == "") == !all {
				return fmt.Errorf("give exactly one of --evidence ID or --all")
			}
			app, err := buildTool(cmd.Context(), path)
			if err != nil {
				return err
			}
			defer app.Close()
			opts := app.FixityOptions()
			opts.Actor = "system:fixity-cli"
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if id != "" {
				eid, err := uuid.Parse(id)
				if err != nil {
					return fmt.Errorf("--evidence: %w", err)
				}
				res, err := custody.CheckFixity(cmd.Context(), app.Pool, app.Storage, eid, opts)
				if err != nil {
					return err
				}
				enc.Encode(res)
				if res.Result != custody.FixityOK {
					return fmt.Errorf("fixity %s: %s", res.Result, eid)
				}
				return nil
			}
			sum, err := custody.CheckAllFixity(cmd.Context(), app.Pool, app.Storage, opts)
			if err != nil {
				return err
			}
			enc.Encode(sum)
			if sum.OK != sum.Checked {
				return fmt.Errorf("fixity: %d of %d originals failed", sum.Checked-sum.OK, sum.Checked)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file")
	cmd.Flags().StringVar(&id, "evidence", "", "check one item")
	cmd.Flags().BoolVar(&all, "all", false, "check every original")
	return cmd
}

func custodyVerifyCmd() *cobra.Command {
	var path, id string
	cmd := &cobra.Command{
		Use:   "custody-verify [--evidence ID]",
		Short: "Verify every chain of custody, the audit log and the checkpoints in the database against the server's key",
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, err := buildTool(cmd.Context(), path)
			if err != nil {
				return err
			}
			defer app.Close()
			opts := custody.VerifyOptions{PublicKey: app.Key.Public().(ed25519.PublicKey)}
			if id != "" {
				if opts.EvidenceID, err = uuid.Parse(id); err != nil {
					return fmt.Errorf("--evidence: %w", err)
				}
			}
			// One snapshot, so appends by the running servers do not look
			// like mismatches between a chain and its head.
			tx, err := app.Pool.BeginTx(cmd.Context(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
			if err != nil {
				return err
			}
			defer tx.Rollback(context.Background())
			if err := custody.VerifyDBCommand(cmd.Context(), os.Stdout, tx, opts); err != nil {
				return err
			}
			if id != "" {
				return nil
			}
			rep, err := audit.Verify(cmd.Context(), tx, opts.PublicKey)
			if err != nil {
				return err
			}
			fmt.Printf("audit log: %d records, %d signed anchors, signed up to seq %d\n", rep.Records, rep.Anchors, rep.AnchoredSeq)
			fmt.Printf("  unsigned tail: %d records newer than the latest anchor (hash-linked only, not yet signed)\n", rep.UnsignedRecords)
			if !rep.OK() {
				return fmt.Errorf("audit log: %d problems, first: %v", rep.ProblemCount, rep.Problems[0])
			}
			fmt.Println("audit log: OK")
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file")
	cmd.Flags().StringVar(&id, "evidence", "", "verify one item's chain")
	return cmd
}
