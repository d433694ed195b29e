package main

import "github.com/spf13/cobra"

// extraCommands are the offline verification commands.
func extraCommands() []*cobra.Command { return nil }
