package main

import "github.com/spf13/cobra"

// mediaCommands are the media pipeline on the command line.
func mediaCommands() []*cobra.Command { return nil }
