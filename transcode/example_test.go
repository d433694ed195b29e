package transcode_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/asticode/go-astiav"

	"github.com/opendems/opendems/transcode"
)

// Proxy with progress, as a worker runs it.
func ExampleProxy() {
	ctx := context.Background()
	res, err := transcode.Proxy(ctx, "original.mp4", "proxy.mp4", transcode.ProxyOptions{Threads: 2},
		func(p transcode.Progress) { fmt.Printf("\r%5.1f%%", p.Percent) })
	if err != nil {
		log.Fatal(err) // errors.Is(err, transcode.ErrCorruptMedia) → mark the item, do not retry
	}
	fmt.Println(res.Width, res.Height, res.HasAudio)
}

// The building blocks: decode, filter, encode into a faststart MP4, with
// every C resource freed by one Closer. This grey-scales a clip and keeps
// its audio.
func Example_buildingBlocks() {
	ctx := context.Background()
	c := transcode.NewCloser()
	defer c.Close()

	in, err := transcode.OpenInput(ctx, c, "in.mp4")
	if err != nil {
		log.Fatal(err)
	}
	if in.Video == nil {
		log.Fatal(transcode.ErrNoVideo)
	}
	vd, err := transcode.NewDecoder(c, in, in.Video, 0)
	if err != nil {
		log.Fatal(err)
	}
	decoders := []*transcode.Decoder{vd}
	var aopts *transcode.AudioEncoderOptions
	var ad *transcode.Decoder
	if in.Audio != nil {
		if ad, err = transcode.NewDecoder(c, in, in.Audio, 1); err != nil {
			log.Fatal(err)
		}
		decoders = append(decoders, ad)
		aopts = &transcode.AudioEncoderOptions{SampleRate: transcode.AACSampleRate(in.Audio.CodecParameters().SampleRate()), Channels: 2}
	}
	cp := in.Video.CodecParameters()
	w, h := transcode.ProxySize(cp.Width(), cp.Height(), cp.SampleAspectRatio(), 0, 720, 1280)
	mp4, err := transcode.CreateMP4(ctx, c, "out.mp4", &transcode.VideoEncoderOptions{
		Width: w, Height: h, TimeBase: vd.TimeBase(), FrameRate: in.FormatContext.GuessFrameRate(in.Video, nil),
		LastFrameDuration: true,
	}, aopts)
	if err != nil {
		log.Fatal(err)
	}
	var vf, af *transcode.FilterGraph
	err = transcode.DecodeStreams(c, in, decoders, func(d *transcode.Decoder, f *astiav.Frame) error {
		var err error
		if d == vd {
			if vf == nil {
				spec := fmt.Sprintf("scale=%d:%d,hue=s=0,format=yuv420p", w, h)
				if vf, err = transcode.NewVideoFilter(c, transcode.VideoSourceOf(f, d.TimeBase()), spec, 0); err != nil {
					return err
				}
			}
			return vf.Push(f, mp4.WriteVideoFrame) // scale/hue keep the time base
		}
		if af == nil {
			if af, err = transcode.NewAudioResampler(c, transcode.AudioSourceOf(f, d.TimeBase()), mp4.AudioTarget()); err != nil {
				return err
			}
		}
		return af.Push(f, mp4.WriteAudioFrame)
	})
	if err != nil {
		log.Fatal(err)
	}
	if vf != nil {
		if err := vf.Push(nil, mp4.WriteVideoFrame); err != nil {
			log.Fatal(err)
		}
	}
	if af != nil {
		if err := af.Push(nil, mp4.WriteAudioFrame); err != nil {
			log.Fatal(err)
		}
	}
	if err := mp4.Finish(); err != nil {
		log.Fatal(err)
	}
	if err := c.Close(); err != nil { // closes out.mp4: check the error
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "done")
}
