package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

type unit struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
	Path string `json:"path"`
}

type user struct {
	ID       string  `json:"id"`
	Username string  `json:"username"`
	Role     string  `json:"role"`
	Unit     string  `json:"unit"`
	UnitPath string  `json:"unit_path"`
	Badge    string  `json:"badge"`
	Disabled *string `json:"disabled_at"`
}

type dock struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Location  string  `json:"location"`
	Prefix    string  `json:"token_prefix"`
	RevokedAt *string `json:"revoked_at"`
}

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
			var out struct{ Units []unit }
			if err := cl.do(cmd.Context(), "GET", "/api/v1/units", nil, &out); err != nil {
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
			var u unit
			if err := cl.do(cmd.Context(), "POST", "/api/v1/units", map[string]string{"slug": args[0], "name": name, "parent": parent}, &u); err != nil {
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
			var out struct{ Users []user }
			if err := cl.do(cmd.Context(), "GET", "/api/v1/users", nil, &out); err != nil {
				return err
			}
			cl.print(out, func() {
				table("USERNAME\tROLE\tUNIT\tBADGE\tSTATUS", func(w *tabwriter.Writer) {
					for _, u := range out.Users {
						st := "active"
						if u.Disabled != nil {
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
			var u user
			req := map[string]string{"username": args[0], "password": pw, "role": nu.Role, "unit": nu.Unit, "display_name": nu.Display, "badge": nu.Badge}
			if err := cl.do(cmd.Context(), "POST", "/api/v1/users", req, &u); err != nil {
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
			req := map[string]string{}
			if role != "" {
				req["role"] = role
			}
			if unitSlug != "" {
				req["unit"] = unitSlug
			}
			if len(req) == 0 {
				return fmt.Errorf("nothing to change: give --role and/or --unit")
			}
			var u user
			if err := cl.do(cmd.Context(), "PATCH", "/api/v1/users/"+args[0], req, &u); err != nil {
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
				var u user
				if err := cl.do(cmd.Context(), "PATCH", "/api/v1/users/"+args[0], map[string]bool{"disabled": v.disabled}, &u); err != nil {
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
			var out struct{ Docks []dock }
			if err := cl.do(cmd.Context(), "GET", "/api/v1/docks", nil, &out); err != nil {
				return err
			}
			cl.print(out, func() {
				table("ID\tNAME\tUNIT\tTOKEN\tSTATUS", func(w *tabwriter.Writer) {
					for _, d := range out.Docks {
						st := "active"
						if d.RevokedAt != nil {
							st = "revoked"
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s…\t%s\n", d.ID, d.Name, d.Unit, d.Prefix, st)
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
			var out struct {
				Dock  dock   `json:"dock"`
				Token string `json:"token"`
			}
			if err := cl.do(cmd.Context(), "POST", "/api/v1/docks", map[string]string{"name": args[0], "unit": unitSlug, "location": location}, &out); err != nil {
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
			var d dock
			if err := cl.do(cmd.Context(), "POST", "/api/v1/docks/"+args[0]+"/revoke", nil, &d); err != nil {
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
