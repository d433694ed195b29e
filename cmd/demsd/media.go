package main

import (
	"os"

	"github.com/spf13/cobra"

	redactcli "github.com/opendems/opendems/cmd/demsd/internal/redactcli"
	transcodecli "github.com/opendems/opendems/cmd/demsd/internal/transcodecli"
	"github.com/opendems/opendems/redact"
)

// mediaCommands run the media pipeline from the command line: exactly the
// library code the workers run.
func mediaCommands() []*cobra.Command {
	probe := &cobra.Command{
		Use: "probe IN", Short: "Print what a media file contains (JSON)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return transcodecli.ProbeCommand(cmd.Context(), os.Stdout, args[0])
		},
	}

	var popts transcodecli.ProxyCommandOptions
	proxy := &cobra.Command{
		Use: "proxy IN OUT", Short: "Make the web proxy (H.264/AAC MP4, at most 720p, index first)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return transcodecli.ProxyCommand(cmd.Context(), os.Stdout, os.Stderr, args[0], args[1], popts)
		},
	}
	proxy.Flags().StringVar(&popts.Proxy.Preset, "preset", "", "x264 preset (default veryfast)")
	proxy.Flags().IntVar(&popts.Proxy.CRF, "crf", 0, "x264 CRF (default 23)")
	proxy.Flags().IntVar(&popts.Proxy.Threads, "threads", 0, "threads (0: automatic)")
	proxy.Flags().BoolVar(&popts.NoProgress, "no-progress", false, "no progress bar")

	var topts transcodecli.ThumbnailsCommandOptions
	thumbs := &cobra.Command{
		Use: "thumbnails IN", Short: "Write a poster frame and a thumbnail sprite (JPEG)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return transcodecli.ThumbnailsCommand(cmd.Context(), os.Stdout, args[0], topts)
		},
	}
	thumbs.Flags().StringVar(&topts.PosterPath, "poster", "poster.jpg", "poster output")
	thumbs.Flags().StringVar(&topts.SpritePath, "sprite", "sprite.jpg", "sprite output")

	var dopts redact.DetectOptions
	var reviewPath string
	detect := &cobra.Command{
		Use: "detect IN", Short: "Detect and track faces; print a redaction spec proposal (JSON)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return redactcli.DetectReviewCommand(cmd.Context(), os.Stdout, os.Stderr, args[0], reviewPath, dopts)
		},
	}
	detect.Flags().IntVar(&dopts.Stride, "stride", 0, "analyse every Nth frame (default 2)")
	detect.Flags().IntVar(&dopts.MaxWidth, "max-width", 0, "downscale frames wider than this before detection (default 960; pigo 640)")
	detect.Flags().StringVar(&dopts.Detector, "detector", "", "face detector: yunet (default), pigo or union")
	detect.Flags().StringVar(&dopts.ONNXRuntimeLibrary, "onnxruntime", "", "libonnxruntime.so.1 for YuNet (default: $"+redact.ONNXRuntimeLibraryEnv+", else beside demsd)")
	detect.Flags().StringVar(&reviewPath, "review", "", "also write the review (people, thumbnails, flags; JSON) to this file")

	var spec string
	red := &cobra.Command{
		Use: "redact --spec SPEC IN OUT", Short: "Render a redacted clip (and its redaction report beside OUT)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return redactcli.RedactCommand(cmd.Context(), os.Stdout, os.Stderr, spec, args[0], args[1])
		},
	}
	red.Flags().StringVar(&spec, "spec", "", "redaction spec (JSON)")
	red.MarkFlagRequired("spec")
	return []*cobra.Command{probe, proxy, thumbs, detect, red}
}
