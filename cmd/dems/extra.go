package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	custodycli "github.com/opendems/opendems/cmd/dems/internal/custodycli"
	releasecli "github.com/opendems/opendems/cmd/dems/internal/releasecli"
	"github.com/opendems/opendems/evidence/release/releasepkg"
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
	return []*cobra.Command{custody, verifyReleaseCmd()}
}

// verifyReleaseCmd is `dems verify PACKAGE`: exit 0 when everything
// verifies, 2 when the package fails (the first failing file, line or
// event is named), 1 when it could not be checked.
func verifyReleaseCmd() *cobra.Command {
	var opt releasecli.VerifyOptions
	cmd := &cobra.Command{
		Use:   "verify PACKAGE",
		Short: "Verify a release package (ZIP or directory) offline: bag, signature, custody excerpt, reports",
		Long: `Verify a release package offline: the BagIt bag (bagit.txt, Payload-Oxum,
every manifest and tag manifest entry), the Ed25519 signature over the tag
manifests, the custody excerpt's hash chains and signed checkpoints, that
each clip matches its redaction report and that each report's source is in
the custody excerpt. Without --key or --server the package's own key is
used, and the report says it was not checked against a trusted key.
--server URL fetches the agency key from URL/api/v1/custody/public-key and
pins it (the first time) or checks it against the pin.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f := cmd.Flag("server"); f != nil && f.Changed {
				opt.Server = f.Value.String()
			}
			if f := cmd.Flag("json"); f != nil {
				opt.JSON = f.Value.String() == "true"
			}
			if term.IsTerminal(int(os.Stderr.Fd())) {
				opt.Progress = os.Stderr
			}
			err := releasecli.Verify(cmd.Context(), cmd.OutOrStdout(), args[0], opt)
			if errors.Is(err, releasepkg.ErrNotVerified) {
				return &exitError{code: 2, err: err}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&opt.KeyFile, "key", "", "trusted agency public key file (PEM, hex or base64), obtained out of band")
	cmd.Flags().BoolVar(&opt.SHA256Only, "sha256-only", false, "recompute only the SHA-256 manifest (every byte still checked; about twice as fast); the SHA-512 manifest is then checked for completeness only")
	cmd.Flags().StringVar(&opt.PinDir, "pin-dir", "", "where keys fetched with --server are pinned (default: user config dir/opendems/pinned-keys)")
	return cmd
}
