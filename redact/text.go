package redact

import (
	"image"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The slate is drawn with basicfont's 7×13 bitmap face scaled by an
// integer factor: it needs no font file on the machine (a libavfilter
// drawtext would need one, and its rendering would depend on the installed
// FreeType and font versions), and scaled bitmap glyphs stay crisp.

// slateBitmap is a rendered slate: a coverage mask at 1× size.
type slateBitmap struct {
	mask *image.Alpha
}

func renderSlateBitmap(text string) slateBitmap {
	face := basicfont.Face7x13
	d := font.Drawer{Face: face, Src: image.Opaque}
	adv := d.MeasureString(text).Ceil()
	m := image.NewAlpha(image.Rect(0, 0, adv, face.Height))
	d.Dst = m
	d.Dot = fixed.P(0, face.Ascent)
	d.DrawString(text)
	return slateBitmap{mask: m}
}

// drawSlate burns text into img: white glyphs on a black box with a margin,
// at the requested position, scaled so the glyph cell is about size pixels
// tall.
func drawSlate(img *image.YCbCr, bm slateBitmap, size int, pos Position) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if size <= 0 {
		size = max(13, h/24)
	}
	bw, bh := bm.mask.Rect.Dx(), bm.mask.Rect.Dy()
	k := max(1, (size+bh/2)/bh)
	// Shrink the scale until the text fits the frame width.
	for k > 1 && bw*k+2*k > w {
		k--
	}
	pad := 2 * k
	tw, th := bw*k+2*pad, bh*k+2*pad
	margin := max(4, h/60)
	var x0, y0 int
	switch pos {
	case PositionTopLeft:
		x0, y0 = margin, margin
	case PositionTopRight:
		x0, y0 = w-margin-tw, margin
	case PositionBottomRight:
		x0, y0 = w-margin-tw, h-margin-th
	case PositionCenter:
		x0, y0 = (w-tw)/2, (h-th)/2
	default:
		x0, y0 = margin, h-margin-th
	}
	x0, y0 = max(0, x0), max(0, y0)
	y, cb, cr, sx, sy := planes(img)
	box := Box{float64(x0), float64(y0), float64(tw), float64(th)}
	fillRect(y, coverRect(box, 0, 0, y), mask{}, 16)
	cbr := coverRect(box, sx, sy, cb)
	fillRect(cb, cbr, mask{}, 128)
	fillRect(cr, cbr, mask{}, 128)
	for gy := 0; gy < bh; gy++ {
		for gx := 0; gx < bw; gx++ {
			a := bm.mask.AlphaAt(gx, gy).A
			if a == 0 {
				continue
			}
			v := uint8(16 + int(a)*(235-16)/255)
			for dy := 0; dy < k; dy++ {
				py := y0 + pad + gy*k + dy
				if py >= y.h {
					break
				}
				row := y.pix[py*y.stride:]
				for dx := 0; dx < k; dx++ {
					if px := x0 + pad + gx*k + dx; px < y.w {
						row[px] = v
					}
				}
			}
		}
	}
}
