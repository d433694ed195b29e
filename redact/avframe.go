package redact

//#cgo pkg-config: libavutil
//#include <libavutil/frame.h>
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// go-astiav v0.16 copies plane bytes out of a frame (FrameData.ToImage goes
// through C.GoBytes) and has no av_frame_make_writable, so editing pixels in
// place needs these few lines of cgo. They only read AVFrame's data and
// linesize arrays and call one libavutil function; frames stay owned by
// go-astiav and the job's Closer.

// makeWritable gives f its own buffers when they are shared (for example
// with the decoder's reference frames), so editing pixels cannot corrupt
// later decoded frames.
func makeWritable(f *astiav.Frame) error {
	if ret := C.av_frame_make_writable((*C.AVFrame)(f.UnsafePointer())); ret < 0 {
		return fmt.Errorf("av_frame_make_writable: %w", astiav.Error(ret))
	}
	return nil
}

// yuvView returns an *image.YCbCr whose planes alias f's memory (valid
// until f is unreferenced). f must be yuv420p and writable.
func yuvView(f *astiav.Frame) (*image.YCbCr, error) {
	if f.PixelFormat() != astiav.PixelFormatYuv420P {
		return nil, fmt.Errorf("frame is %s, want yuv420p", f.PixelFormat())
	}
	c := (*C.AVFrame)(f.UnsafePointer())
	w, h := int(c.width), int(c.height)
	ys, cs := int(c.linesize[0]), int(c.linesize[1])
	if ys <= 0 || cs <= 0 || c.data[0] == nil || c.data[1] == nil || c.data[2] == nil {
		return nil, errors.New("frame has no (or bottom-up) planes")
	}
	ch := (h + 1) / 2
	return &image.YCbCr{
		Y:              unsafe.Slice((*uint8)(unsafe.Pointer(c.data[0])), ys*h),
		Cb:             unsafe.Slice((*uint8)(unsafe.Pointer(c.data[1])), cs*ch),
		Cr:             unsafe.Slice((*uint8)(unsafe.Pointer(c.data[2])), cs*ch),
		YStride:        ys,
		CStride:        cs,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, w, h),
	}, nil
}

// grayView returns the luma (or gray8) plane of f as an *image.Gray that
// aliases f's memory.
func grayView(f *astiav.Frame) (*image.Gray, error) {
	c := (*C.AVFrame)(f.UnsafePointer())
	w, h, s := int(c.width), int(c.height), int(c.linesize[0])
	if s <= 0 || c.data[0] == nil {
		return nil, errors.New("frame has no (or a bottom-up) first plane")
	}
	return &image.Gray{Pix: unsafe.Slice((*uint8)(unsafe.Pointer(c.data[0])), s*h), Stride: s, Rect: image.Rect(0, 0, w, h)}, nil
}

// floatPlanes returns one []float32 per channel aliasing a planar float
// (fltp) audio frame's samples. f must be writable.
func floatPlanes(f *astiav.Frame) ([][]float32, error) {
	if f.SampleFormat() != astiav.SampleFormatFltp {
		return nil, fmt.Errorf("audio frame is %s, want fltp", f.SampleFormat().Name())
	}
	c := (*C.AVFrame)(f.UnsafePointer())
	n := int(c.nb_samples)
	nch := f.ChannelLayout().NbChannels()
	if nch <= 0 || c.extended_data == nil {
		return nil, errors.New("audio frame without channels")
	}
	ptrs := unsafe.Slice(c.extended_data, nch)
	out := make([][]float32, nch)
	for i, p := range ptrs {
		if p == nil {
			return nil, fmt.Errorf("audio channel %d has no data", i)
		}
		out[i] = unsafe.Slice((*float32)(unsafe.Pointer(p)), n)
	}
	return out, nil
}
