package transcode

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

// Decoder decodes one stream of an Input into frames.
//
// Frames it hands out carry timestamps in the stream's time base
// (Decoder.TimeBase); a frame without a timestamp gets one extrapolated from
// the previous frame, so downstream filters and encoders always see
// increasing pts even for raw or broken streams.
type Decoder struct {
	// Stream is the input stream being decoded.
	Stream *astiav.Stream
	// CodecContext is the opened libavcodec decoder.
	CodecContext *astiav.CodecContext

	path    string
	frame   *astiav.Frame
	lastPts int64
	lastDur int64
	// frameStep is the nominal duration of one video frame in the stream
	// time base, used to extrapolate missing timestamps.
	frameStep int64
}

// NewDecoder opens a decoder for stream s of in. threads is the decoder
// thread count (0 lets FFmpeg choose from the CPU count).
func NewDecoder(c *Closer, in *Input, s *astiav.Stream, threads int) (*Decoder, error) {
	const op = "open decoder"
	if s == nil {
		return nil, mediaErr(op, in.Path, ErrInvalidOptions, errors.New("nil stream"))
	}
	cp := s.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, mediaErr(op, in.Path, ErrUnsupportedCodec, fmt.Errorf("no decoder for %s", cp.CodecID()))
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, mediaErr(op, in.Path, nil, errors.New("allocating codec context failed"))
	}
	c.Add(cc.Free)
	registerLog(in.ctx, c, cc)
	if err := cp.ToCodecContext(cc); err != nil {
		return nil, mediaErr(op, in.Path, ErrCorruptMedia, err)
	}
	d := &Decoder{Stream: s, CodecContext: cc, path: in.Path, lastPts: astiav.NoPtsValue}
	if cp.MediaType() == astiav.MediaTypeVideo {
		fr := in.FormatContext.GuessFrameRate(s, nil)
		cc.SetFramerate(fr)
		if fr.Num() > 0 && fr.Den() > 0 {
			d.frameStep = astiav.RescaleQ(1, astiav.NewRational(fr.Den(), fr.Num()), s.TimeBase())
		}
	}
	if d.frameStep <= 0 {
		d.frameStep = 1
	}
	cc.SetThreadCount(threads)
	cc.SetThreadType(astiav.ThreadTypeFrame | astiav.ThreadTypeSlice)
	if err := cc.Open(codec, nil); err != nil {
		return nil, mediaErr(op, in.Path, ErrUnsupportedCodec, err)
	}
	d.frame = astiav.AllocFrame()
	c.Add(d.frame.Free)
	return d, nil
}

// TimeBase is the time base of the pts of every frame this decoder emits.
func (d *Decoder) TimeBase() astiav.Rational { return d.Stream.TimeBase() }

// MediaType is video or audio.
func (d *Decoder) MediaType() astiav.MediaType { return d.CodecContext.MediaType() }

// Decode sends pkt to the decoder and calls fn for every frame that comes
// out. Pass pkt == nil once at the end of input to drain buffered frames.
// The frame passed to fn is only valid during the call (it is reused); use
// frame.Clone or frame.Ref to keep it.
//
// A packet the decoder rejects as invalid data is skipped rather than fatal:
// evidence recordings often have a damaged packet (power loss, card error)
// and the rest of the clip is still worth a proxy. Errors from fn are
// returned unchanged.
func (d *Decoder) Decode(pkt *astiav.Packet, fn func(*astiav.Frame) error) error {
	// EAGAIN from SendPacket means "read frames first, then send again";
	// since every call drains the decoder it is rare, and one retry after
	// draining is enough.
	for attempt := 0; ; attempt++ {
		err := d.CodecContext.SendPacket(pkt)
		switch {
		case err == nil:
		case errors.Is(err, astiav.ErrEof):
			return nil // already drained
		case errors.Is(err, astiav.ErrInvaliddata):
			return nil
		case errors.Is(err, astiav.ErrEagain) && attempt == 0:
			if err := d.receive(fn); err != nil {
				return err
			}
			continue
		default:
			return mediaErr("decode", d.path, ErrCorruptMedia, err)
		}
		return d.receive(fn)
	}
}

// receive hands every frame the decoder has ready to fn.
func (d *Decoder) receive(fn func(*astiav.Frame) error) error {
	for {
		d.frame.Unref()
		err := d.CodecContext.ReceiveFrame(d.frame)
		if err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			if errors.Is(err, astiav.ErrInvaliddata) {
				continue
			}
			return mediaErr("decode", d.path, ErrCorruptMedia, err)
		}
		d.fixTimestamp(d.frame)
		if err := fn(d.frame); err != nil {
			return err
		}
	}
}

// fixTimestamp fills a missing pts from the packet dts or by extrapolation.
func (d *Decoder) fixTimestamp(f *astiav.Frame) {
	pts := f.Pts()
	if pts == astiav.NoPtsValue {
		pts = f.PktDts()
	}
	if pts == astiav.NoPtsValue {
		if d.lastPts == astiav.NoPtsValue {
			pts = 0
		} else {
			pts = d.lastPts + d.lastDur
		}
	}
	f.SetPts(pts)
	d.lastPts = pts
	if d.MediaType() == astiav.MediaTypeAudio && f.SampleRate() > 0 {
		d.lastDur = astiav.RescaleQ(int64(f.NbSamples()), astiav.NewRational(1, f.SampleRate()), d.TimeBase())
	} else {
		d.lastDur = d.frameStep
	}
}

// DecodeStreams is the demux → decode loop shared by every pipeline: it
// reads packets from in until EOF, feeds each to the decoder of its stream
// (packets of other streams are dropped), drains all decoders at the end and
// calls fn for every decoded frame. It stops at the first error from fn, at
// a read error, or when the job's context is done.
func DecodeStreams(c *Closer, in *Input, decoders []*Decoder, fn func(d *Decoder, f *astiav.Frame) error) error {
	byIndex := make(map[int]*Decoder, len(decoders))
	for _, d := range decoders {
		byIndex[d.Stream.Index()] = d
	}
	pkt := astiav.AllocPacket()
	c.Add(pkt.Free)
	for {
		err := in.ReadPacket(pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			return err
		}
		d, ok := byIndex[pkt.StreamIndex()]
		if !ok {
			continue
		}
		if err := d.Decode(pkt, func(f *astiav.Frame) error { return fn(d, f) }); err != nil {
			return err
		}
	}
	pkt.Unref()
	for _, d := range decoders {
		if err := d.Decode(nil, func(f *astiav.Frame) error { return fn(d, f) }); err != nil {
			return err
		}
	}
	return nil
}
