package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

type apiToken struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Prefix     string  `json:"prefix"`
	CreatedAt  string  `json:"created_at"`
	ExpiresAt  *string `json:"expires_at"`
	RevokedAt  *string `json:"revoked_at"`
	LastUsedAt *string `json:"last_used_at"`
}

func orNone(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// tokenCmd manages the caller's own personal API tokens. Nobody, an
// administrator included, can issue a token for someone else.
func tokenCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage your own personal API tokens"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List your tokens (never the tokens themselves)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Tokens []apiToken `json:"tokens"`
			}
			if err := cl.do(cmd.Context(), "GET", "/api/v1/me/tokens", nil, &out); err != nil {
				return err
			}
			cl.print(out, func() {
				table("ID\tNAME\tPREFIX\tCREATED\tEXPIRES\tLAST USED\tREVOKED", func(w *tabwriter.Writer) {
					for _, t := range out.Tokens {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Prefix, t.CreatedAt,
							orNone(t.ExpiresAt), orNone(t.LastUsedAt), orNone(t.RevokedAt))
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
			req := map[string]any{"name": name}
			if expires > 0 {
				req["expires_at"] = time.Now().Add(expires).UTC().Format(time.RFC3339)
			}
			var out struct {
				Token string   `json:"token"`
				Info  apiToken `json:"info"`
			}
			if err := cl.do(cmd.Context(), "POST", "/api/v1/me/tokens", req, &out); err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("token %s (%s), expires %s\nshown once: %s\n", out.Info.ID, out.Info.Name, orNone(out.Info.ExpiresAt), out.Token)
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
			if err := cl.do(cmd.Context(), "DELETE", "/api/v1/me/tokens/"+args[0], nil, nil); err != nil {
				return err
			}
			cl.print(map[string]string{"revoked": args[0]}, func() { fmt.Printf("revoked %s\n", args[0]) })
			return nil
		},
	})
	return cmd
}
