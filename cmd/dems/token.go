package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/evidence/api/apiclient"
)

// tokenCmd manages the caller's own personal API tokens. Nobody, an
// administrator included, can issue a token for someone else.
func tokenCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage your own personal API tokens"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List your tokens (never the tokens themselves)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.ListMyTokens(cmd.Context())
			if err != nil {
				return err
			}
			cl.print(out, func() {
				table("ID\tNAME\tPREFIX\tCREATED\tEXPIRES\tLAST USED\tREVOKED", func(w *tabwriter.Writer) {
					for _, t := range out.Tokens {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Prefix, when(&t.CreatedAt),
							when(t.ExpiresAt), when(t.LastUsedAt), when(t.RevokedAt))
					}
				})
			})
			return nil
		},
	})
	var name string
	var expires time.Duration
	create := &cobra.Command{
		Use: "create", Short: "Create a token for yourself; prints it once", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			req := apiclient.TokenRequest{Name: name}
			if expires > 0 {
				at := time.Now().Add(expires).UTC().Truncate(time.Second)
				req.ExpiresAt = &at
			}
			out, err := api.CreateMyToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("token %s (%s), expires %s\nshown once: %s\n", out.Info.ID, out.Info.Name, when(out.Info.ExpiresAt), out.Token)
			})
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "cli", "a name to tell your tokens apart")
	create.Flags().DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h (default and maximum: the server's token_max_lifetime)")
	cmd.AddCommand(create)
	cmd.AddCommand(&cobra.Command{
		Use: "revoke TOKEN-ID", Short: "Revoke one of your tokens (refused at once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			if err := api.RevokeMyToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			cl.print(map[string]string{"revoked": args[0]}, func() { fmt.Printf("revoked %s\n", args[0]) })
			return nil
		},
	})
	return cmd
}
