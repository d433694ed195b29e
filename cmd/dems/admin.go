package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/evidence/api/apiclient"
)

func table(header string, rows func(w *tabwriter.Writer)) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	rows(w)
	w.Flush()
}

func unitCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "unit", Short: "Manage units (the unit tree)"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List units",
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.ListUnits(cmd.Context())
			if err != nil {
				return err
			}
			cl.print(out, func() {
				table("SLUG\tPATH\tNAME", func(w *tabwriter.Writer) {
					for _, u := range out.Units {
						fmt.Fprintf(w, "%s\t%s\t%s\n", u.Slug, u.Path, u.Name)
					}
				})
			})
			return nil
		},
	})
	var name, parent string
	create := &cobra.Command{
		Use: "create SLUG", Short: "Create a unit", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			u, err := api.CreateUnit(cmd.Context(), apiclient.UnitRequest{Slug: args[0], Name: name, Parent: parent})
			if err != nil {
				return err
			}
			cl.print(u, func() { fmt.Printf("created unit %s (%s)\n", u.Path, u.ID) })
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "display name")
	create.Flags().StringVar(&parent, "parent", "", "parent unit slug")
	cmd.AddCommand(create)
	return cmd
}

func userCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List users",
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			cl.print(out, func() {
				table("USERNAME\tROLE\tUNIT\tBADGE\tSTATUS", func(w *tabwriter.Writer) {
					for _, u := range out.Users {
						st := "active"
						if u.DisabledAt != nil {
							st = "disabled"
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Role, u.UnitPath, u.Badge, st)
					}
				})
			})
			return nil
		},
	})
	var nu struct {
		Username, Role, Unit, Display, Badge string
		PasswordFile                         string
	}
	create := &cobra.Command{
		Use: "create USERNAME", Short: "Create a user (password read from --password-file or DEMS_NEW_PASSWORD)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw := os.Getenv("DEMS_NEW_PASSWORD")
			if nu.PasswordFile != "" {
				b, err := os.ReadFile(nu.PasswordFile)
				if err != nil {
					return err
				}
				pw = string(trimNewline(b))
			}
			if pw == "" {
				return fmt.Errorf("no password: use --password-file FILE or DEMS_NEW_PASSWORD (never a flag: flags show in process lists)")
			}
			api, err := cl.api()
			if err != nil {
				return err
			}
			u, err := api.CreateUser(cmd.Context(), apiclient.NewUser{Username: args[0], Password: pw, Role: nu.Role, Unit: nu.Unit, DisplayName: nu.Display, Badge: nu.Badge})
			if err != nil {
				return err
			}
			cl.print(map[string]any{"user": u}, func() {
				fmt.Printf("created user %s (%s, %s)\n", u.Username, u.Role, u.UnitPath)
			})
			return nil
		},
	}
	create.Flags().StringVar(&nu.Role, "role", "", "officer, supervisor, records, auditor or admin")
	create.Flags().StringVar(&nu.Unit, "unit", "", "unit slug")
	create.Flags().StringVar(&nu.Display, "name", "", "display name")
	create.Flags().StringVar(&nu.Badge, "badge", "", "badge number (matches officer_id on recordings)")
	create.Flags().StringVar(&nu.PasswordFile, "password-file", "", "file holding the initial password")
	cmd.AddCommand(create)
	var role, unitSlug string
	update := &cobra.Command{
		Use: "update USER-ID", Short: "Change a user's role or unit (their web sessions end)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req apiclient.UserPatch
			if role != "" {
				req.Role = &role
			}
			if unitSlug != "" {
				req.Unit = &unitSlug
			}
			if req.Role == nil && req.Unit == nil {
				return fmt.Errorf("nothing to change: give --role and/or --unit")
			}
			api, err := cl.api()
			if err != nil {
				return err
			}
			u, err := api.UpdateUser(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			cl.print(u, func() { fmt.Printf("user %s is now %s in %s\n", u.Username, u.Role, u.UnitPath) })
			return nil
		},
	}
	update.Flags().StringVar(&role, "role", "", "new role")
	update.Flags().StringVar(&unitSlug, "unit", "", "new unit slug")
	cmd.AddCommand(update)
	for _, v := range []struct {
		use      string
		disabled bool
	}{{"disable", true}, {"enable", false}} {
		v := v
		cmd.AddCommand(&cobra.Command{
			Use: v.use + " USER-ID", Short: v.use + " a user", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				api, err := cl.api()
				if err != nil {
					return err
				}
				u, err := api.UpdateUser(cmd.Context(), args[0], apiclient.UserPatch{Disabled: &v.disabled})
				if err != nil {
					return err
				}
				cl.print(u, func() { fmt.Printf("%sd user %s\n", v.use, u.Username) })
				return nil
			},
		})
	}
	return cmd
}

func dockCmd(cl *client) *cobra.Command {
	cmd := &cobra.Command{Use: "dock", Short: "Manage docking stations"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List docks",
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.ListDocks(cmd.Context())
			if err != nil {
				return err
			}
			cl.print(out, func() {
				table("ID\tNAME\tUNIT\tTOKEN\tSTATUS", func(w *tabwriter.Writer) {
					for _, d := range out.Docks {
						st := "active"
						if d.RevokedAt != nil {
							st = "revoked"
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s…\t%s\n", d.ID, d.Name, d.Unit, d.TokenPrefix, st)
					}
				})
			})
			return nil
		},
	})
	var unitSlug, location string
	enroll := &cobra.Command{
		Use: "enroll NAME", Short: "Enroll a docking station; prints its token once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			out, err := api.EnrollDock(cmd.Context(), apiclient.DockRequest{Name: args[0], Unit: unitSlug, Location: location})
			if err != nil {
				return err
			}
			cl.print(out, func() {
				fmt.Printf("enrolled dock %s (%s) in unit %s\ndock token (shown once): %s\nnext, on the docking station: dems-dock enroll --server %s --token <token> --config dock.yaml\n",
					out.Dock.Name, out.Dock.ID, out.Dock.Unit, out.Token, cl.server)
			})
			return nil
		},
	}
	enroll.Flags().StringVar(&unitSlug, "unit", "", "unit slug the dock uploads for")
	enroll.Flags().StringVar(&location, "location", "", "where the dock is")
	cmd.AddCommand(enroll)
	cmd.AddCommand(&cobra.Command{
		Use: "revoke DOCK-ID", Short: "Revoke a dock's token (refused at once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cl.api()
			if err != nil {
				return err
			}
			d, err := api.RevokeDock(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			cl.print(d, func() { fmt.Printf("revoked dock %s\n", d.Name) })
			return nil
		},
	})
	return cmd
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
