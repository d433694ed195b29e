package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/opendems/opendems/evidence/dock"
)

func enrollCmd() *cobra.Command {
	var server, token, configPath, stateDir string
	var force bool
	c := &cobra.Command{
		Use:   "enroll --server URL --token T --config FILE",
		Short: "Check the dock token and pin the server's receipt key",
		Long: `Fetches the server's receipt-signing public key with the dock token (which
proves the token works) and pins it in the state directory: every receipt
is verified against it from then on, and a different key is refused.
If FILE does not exist, a starter config is written (token in
STATE_DIR/token, mode 0600); add the watched directories before 'run'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return usageErr("--config is required")
			}
			abs, err := filepath.Abs(configPath)
			if err != nil {
				return usageErr("--config: %v", err)
			}
			existing := map[string]any{}
			if b, err := os.ReadFile(abs); err == nil {
				if err := yaml.Unmarshal(b, &existing); err != nil {
					return usageErr("%s: %v", abs, err)
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return failErr(err)
			}
			str := func(k string) string { s, _ := existing[k].(string); return s }
			if server == "" {
				server = str("server")
			}
			if stateDir == "" {
				stateDir = str("state_dir")
			}
			if stateDir == "" {
				stateDir = filepath.Join(filepath.Dir(abs), "dems-dock-state")
			}
			if token == "" {
				token, err = readToken(str("token"), str("token_file"))
				if err != nil {
					return usageErr("%v", err)
				}
			}
			client, err := dock.NewClient(server, token, nil)
			if err != nil {
				return usageErr("--server: %v", err)
			}
			pk, err := client.ReceiptKey(cmd.Context())
			if err != nil {
				return failErr(fmt.Errorf("the server refused the token or is unreachable: %w", err))
			}
			if err := dock.PinKey(stateDir, pk, force); err != nil {
				return failErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pinned receipt key %s in %s\n", pk.KeyID, stateDir)
			if len(existing) > 0 {
				return nil
			}
			tokenPath := filepath.Join(stateDir, "token")
			if err := os.WriteFile(tokenPath, []byte(token+"\n"), 0o600); err != nil {
				return failErr(err)
			}
			cfg := fmt.Sprintf(`# dems-dock configuration (see docs/ingest.md)
server: %s
token_file: %s
state_dir: %s
watch: []
#  - path: /mnt/camera1            # a camera mount or NVR export folder
#    defaults: {source_kind: bwc, device_id: cam-1}
after_receipt: move               # or delete
released_dir: %s
quarantine_dir: %s
stable_for: 30s
concurrency: 2
bandwidth: ""                     # e.g. 20MiB/s
defaults: {}
`, server, tokenPath, stateDir, filepath.Join(stateDir, "released"), filepath.Join(stateDir, "quarantine"))
			if err := os.WriteFile(abs, []byte(cfg), 0o640); err != nil {
				return failErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: add the watched directories, then run: dems-dock run --config %s\n", abs, abs)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&server, "server", "", "server base URL")
	f.StringVar(&token, "token", "", "dock token from the administrator")
	f.StringVar(&configPath, "config", "", "config file to use or create")
	f.StringVar(&stateDir, "state-dir", "", "state directory (default: the config's, or beside the config)")
	f.BoolVar(&force, "force", false, "replace a different pinned key (after the server's key was rotated)")
	return c
}
