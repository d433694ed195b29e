package transcode_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"testing"

	"github.com/opendems/opendems/transcode"
)

func decodeJPEG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil || format != "jpeg" {
		t.Fatalf("not a JPEG (%q): %v", format, err)
	}
	return img
}

func meanLuma(img image.Image) float64 {
	b := img.Bounds()
	var s float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			s += (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
		}
	}
	return s / float64(b.Dx()*b.Dy())
}

func TestPoster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in           string
		opts         transcode.PosterOptions
		wantW, wantH int
		minTime      float64
	}{
		{"normal.mp4", transcode.PosterOptions{}, 640, 360, 0.3},
		{"rotated.mp4", transcode.PosterOptions{}, 240, 320, 0.2},
		{"odd.mkv", transcode.PosterOptions{MaxSide: 100}, 100, 74, 0.2},
		{"big.avi", transcode.PosterOptions{}, 640, 480, 0.1},
		// black until the size changes at 1 s: the scan for a non-black
		// frame crosses the change.
		{"sizechange.ts", transcode.PosterOptions{At: 0.05}, 320, 240, 1.0},
		// 1 s of black first: at 1% the poster must skip to the picture.
		{"blackstart.mp4", transcode.PosterOptions{At: 0.01}, 320, 240, 1.0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var buf bytes.Buffer
			res, err := transcode.Poster(context.Background(), media(t, tc.in), &buf, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			img := decodeJPEG(t, buf.Bytes())
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH || res.Width != tc.wantW || res.Height != tc.wantH {
				t.Errorf("jpeg %v, result %dx%d, want %dx%d", b, res.Width, res.Height, tc.wantW, tc.wantH)
			}
			if res.Time < tc.minTime {
				t.Errorf("poster at %.2fs, want ≥ %.2fs", res.Time, tc.minTime)
			}
			if l := meanLuma(img); l < 30 {
				t.Errorf("poster is black (mean luma %.1f)", l)
			}
		})
	}
}

func TestPosterKeepBlack(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	res, err := transcode.Poster(context.Background(), media(t, "blackstart.mp4"), &buf, transcode.PosterOptions{At: 0.01, KeepBlack: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Time >= 1 {
		t.Errorf("KeepBlack poster at %.2fs, want the black part", res.Time)
	}
	if l := meanLuma(decodeJPEG(t, buf.Bytes())); l > 30 {
		t.Errorf("KeepBlack poster mean luma %.1f, want black", l)
	}
}

func TestSprite(t *testing.T) {
	t.Parallel()
	src := media(t, "normal.mp4") // 3 s, 640x360
	var buf bytes.Buffer
	res, err := transcode.Sprite(context.Background(), src, &buf, transcode.SpriteOptions{Tiles: 7, Columns: 3, TileWidth: 120})
	if err != nil {
		t.Fatal(err)
	}
	img := decodeJPEG(t, buf.Bytes())
	if res.TileWidth != 120 || res.TileHeight != 68 || res.Columns != 3 || res.Rows != 3 {
		t.Errorf("geometry %+v", res)
	}
	if b := img.Bounds(); b.Dx() != res.Width || b.Dy() != res.Height || res.Width != 360 || res.Height != 204 {
		t.Errorf("jpeg %v, result %dx%d", b, res.Width, res.Height)
	}
	if len(res.Tiles) != 7 {
		t.Fatalf("%d tiles", len(res.Tiles))
	}
	for i, tile := range res.Tiles {
		// Tile i shows the first frame at or after the middle of slice i.
		lo, hi := 3*(float64(i)+0.5)/7, 3*(float64(i)+0.5)/7+0.04+1e-9
		if tile.Time < lo || tile.Time > hi {
			t.Errorf("tile %d at %.3fs, want in [%.3f, %.3f]", i, tile.Time, lo, hi)
		}
		if tile.X != (i%3)*120 || tile.Y != (i/3)*68 || tile.Index != i {
			t.Errorf("tile %d at (%d,%d)", i, tile.X, tile.Y)
		}
		// testsrc2 is bright and busy everywhere, so every filled tile is.
		sub := img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(tile.X, tile.Y, tile.X+res.TileWidth, tile.Y+res.TileHeight))
		if l := meanLuma(sub); l < 30 {
			t.Errorf("tile %d is empty (mean luma %.1f)", i, l)
		}
	}
	// Different times must give different pictures (testsrc2 moves).
	a := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(0, 0, 120, 68))
	b := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(240, 0, 360, 68))
	var ba, bb bytes.Buffer
	_ = jpeg.Encode(&ba, a, nil)
	_ = jpeg.Encode(&bb, b, nil)
	if bytes.Equal(ba.Bytes(), bb.Bytes()) {
		t.Error("tiles 0 and 2 are identical")
	}
}

func TestThumbnailErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		run  func(path string) error
		want error
	}{
		{"poster audio only", "audioonly.wav", func(p string) error {
			_, err := transcode.Poster(context.Background(), p, &bytes.Buffer{}, transcode.PosterOptions{})
			return err
		}, transcode.ErrNoVideo},
		{"sprite audio only", "audioonly.wav", func(p string) error {
			_, err := transcode.Sprite(context.Background(), p, &bytes.Buffer{}, transcode.SpriteOptions{})
			return err
		}, transcode.ErrNoVideo},
		{"poster garbage", "garbage.bin", func(p string) error {
			_, err := transcode.Poster(context.Background(), p, &bytes.Buffer{}, transcode.PosterOptions{})
			return err
		}, transcode.ErrCorruptMedia},
		{"sprite truncated", "truncated.mp4", func(p string) error {
			_, err := transcode.Sprite(context.Background(), p, &bytes.Buffer{}, transcode.SpriteOptions{})
			return err
		}, transcode.ErrCorruptMedia},
		{"poster bad at", "normal.mp4", func(p string) error {
			_, err := transcode.Poster(context.Background(), p, &bytes.Buffer{}, transcode.PosterOptions{At: 1.5})
			return err
		}, transcode.ErrInvalidOptions},
		{"sprite too many tiles", "normal.mp4", func(p string) error {
			_, err := transcode.Sprite(context.Background(), p, &bytes.Buffer{}, transcode.SpriteOptions{Tiles: 1000})
			return err
		}, transcode.ErrInvalidOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(media(t, tc.in)); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}
