package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/opendems/opendems/evidence/identity"
)

// bootstrapCmd creates the first administrator of a new deployment, directly
// in the database (there is nobody yet to call the API).
func bootstrapCmd() *cobra.Command {
	var path, username, unit, unitName string
	cmd := &cobra.Command{
		Use:   "bootstrap-admin",
		Short: "Create the first administrator (password from DEMS_NEW_PASSWORD) and print an API token",
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw := os.Getenv("DEMS_NEW_PASSWORD")
			if pw == "" {
				return fmt.Errorf("set DEMS_NEW_PASSWORD to the administrator's initial password")
			}
			app, err := buildTool(cmd.Context(), path)
			if err != nil {
				return err
			}
			defer app.Close()
			ctx := cmd.Context()
			if _, err := app.Identity.CreateUnit(ctx, unit, unitName, ""); err != nil && !errors.Is(err, identity.ErrExists) {
				return err
			}
			u, err := app.Identity.CreateUser(ctx, identity.NewUser{Username: username, Password: pw, Role: identity.RoleAdmin, Unit: unit, DisplayName: "Administrator"})
			if err != nil {
				return err
			}
			token, _, err := app.Identity.CreateAPIToken(ctx, u.ID, "bootstrap", nil)
			if err != nil {
				return err
			}
			fmt.Printf("created administrator %s in unit %s\nAPI token (shown once): %s\n", u.Username, unit, token)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "YAML config file")
	cmd.Flags().StringVar(&username, "username", "admin", "administrator's username")
	cmd.Flags().StringVar(&unit, "unit", "hq", "top-level unit slug (created if missing)")
	cmd.Flags().StringVar(&unitName, "unit-name", "Headquarters", "unit display name")
	return cmd
}
