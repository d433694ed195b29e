package main

import (
	"github.com/spf13/cobra"

	custodycli "github.com/opendems/opendems/cmd/dems/internal/custodycli"
)

// extraCommands are the offline verification commands.
func extraCommands() []*cobra.Command {
	custody := &cobra.Command{Use: "custody", Short: "Chain of custody"}
	var key string
	verify := &cobra.Command{
		Use:   "verify EXPORT",
		Short: "Verify a custody export offline: every hash, every checkpoint signature; names the first event that fails",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := custodycli.VerifyCommand(cmd.Context(), cmd.OutOrStdout(), args[0], key); err != nil {
				return &exitError{code: 2, err: err}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&key, "key", "", "trusted checkpoint public key file (obtained out of band); without it the export's own key is used and reported")
	custody.AddCommand(verify)
	return []*cobra.Command{custody}
}
