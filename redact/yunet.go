package redact

import (
	_ "embed" // the YuNet model
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// yunetModel is YuNet_n with dynamic input size, copied unchanged from
// github.com/ShiqiYu/libfacedetection.train (onnx/yunet_n_dynamic.onnx at
// commit 0047ac24afb1a50a0c6105001c89d1b5b805dbf1, Apache-2.0, see
// models/yunet/LICENSE and NOTICE). sha256 104ee26c…4c2b12.
//
//go:embed models/yunet/yunet_n_dynamic.onnx
var yunetModel []byte

// ONNXRuntimeLibraryEnv names the environment variable that locates ONNX
// Runtime's shared library. It is also the configuration override of
// redact.onnxruntime_library, so one name serves demsd and the tests.
const ONNXRuntimeLibraryEnv = "OPENDEMS_REDACT_ONNXRUNTIME_LIBRARY"

// onnxRuntimeFile is the library's file name as `make onnxruntime` installs
// it (from the npm package onnxruntime-node 1.30.0).
const onnxRuntimeFile = "libonnxruntime.so.1"

// ErrNoONNXRuntime reports that ONNX Runtime's shared library was not found
// or could not be loaded.
var ErrNoONNXRuntime = errors.New("ONNX Runtime library not available")

var ortState struct {
	mu   sync.Mutex
	path string // loaded library; "" before the first successful load
}

// FindONNXRuntime returns the ONNX Runtime library to load: path when set,
// else $OPENDEMS_REDACT_ONNXRUNTIME_LIBRARY, else libonnxruntime.so.1 beside
// the running executable (where `make build` puts it next to demsd), else
// bin/libonnxruntime.so.1 of the source tree containing the working
// directory (tests run from a package directory).
func FindONNXRuntime(path string) (string, error) {
	if path != "" {
		return checkFile(path)
	}
	if p := os.Getenv(ONNXRuntimeLibraryEnv); p != "" {
		return checkFile(p)
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), onnxRuntimeFile)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, "bin", onnxRuntimeFile)
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				tried = append(tried, p)
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("%w: set redact.onnxruntime_library (%s) or run `make onnxruntime`; looked in %v",
		ErrNoONNXRuntime, ONNXRuntimeLibraryEnv, tried)
}

func checkFile(p string) (string, error) {
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoONNXRuntime, err)
	}
	return p, nil
}

// initONNXRuntime loads the library once per process. ONNX Runtime has one
// environment per process, so a second, different path is refused rather
// than silently ignored.
func initONNXRuntime(path string) error {
	p, err := FindONNXRuntime(path)
	if err != nil {
		return err
	}
	ortState.mu.Lock()
	defer ortState.mu.Unlock()
	if ortState.path != "" {
		if ortState.path != p {
			return fmt.Errorf("%w: %s requested, but %s is already loaded", ErrNoONNXRuntime, p, ortState.path)
		}
		return nil
	}
	ort.SetSharedLibraryPath(p)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("%w: loading %s: %w", ErrNoONNXRuntime, p, err)
	}
	ortState.path = p
	return nil
}

// YuNetOptions tunes the YuNet detector. The zero value of a field means
// its default.
type YuNetOptions struct {
	// Library is the ONNX Runtime shared library (see FindONNXRuntime).
	Library string
	// ScoreThreshold is the lowest sqrt(cls·obj) kept (0.5). OpenCV's demo
	// uses 0.9 to show only sure faces; redaction would rather mask a
	// doubtful face than release it, and the tracker drops one-off hits.
	ScoreThreshold float64
	// NMSThreshold is the IoU above which a weaker box is suppressed (0.3,
	// OpenCV FaceDetectorYN's default).
	NMSThreshold float64
	// TopK bounds the boxes kept after suppression (5000, as OpenCV).
	TopK int
}

func (o YuNetOptions) withDefaults() YuNetOptions {
	if o.ScoreThreshold <= 0 {
		o.ScoreThreshold = 0.5
	}
	if o.NMSThreshold <= 0 {
		o.NMSThreshold = 0.3
	}
	if o.TopK <= 0 {
		o.TopK = 5000
	}
	return o
}

// yunetOutputs are the network's output names in the order OpenCV's
// FaceDetectorYN reads them: cls, obj, bbox, kps, each at strides 8/16/32.
var yunetOutputs = []string{"cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32",
	"bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32"}

var yunetStrides = [3]int{8, 16, 32}

// YuNet runs the YuNet_n face detector with ONNX Runtime, one single-
// threaded session per YuNet value (on a small machine one session per
// worker beats intra-op threads). A YuNet is used by one goroutine at a
// time; Detect locks to make misuse safe, not fast.
type YuNet struct {
	mu      sync.Mutex
	session *ort.DynamicAdvancedSession
	opts    YuNetOptions
	// tensors are kept per padded input size: MultiScale alternates two
	// sizes on one session, and allocating (and zeroing) the tensors on
	// every call cost as much as a small inference.
	tensors map[[2]int]*yunetTensors
}

// yunetTensors are the input and output tensors of one padded size.
type yunetTensors struct {
	input   *ort.Tensor[float32]
	outputs []*ort.Tensor[float32]
	values  []ort.Value // outputs as the session wants them
}

// maxTensorSizes bounds the cached sizes (a detector sees one or two).
const maxTensorSizes = 4

// NewYuNet loads ONNX Runtime (once per process) and opens a session on
// the embedded model.
func NewYuNet(opts YuNetOptions) (*YuNet, error) {
	opts = opts.withDefaults()
	if err := initONNXRuntime(opts.Library); err != nil {
		return nil, fmt.Errorf("redact: yunet: %w", err)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("redact: yunet: session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("redact: yunet: %w", err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("redact: yunet: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(yunetModel, []string{"input"}, yunetOutputs, so)
	if err != nil {
		return nil, fmt.Errorf("redact: yunet: creating session: %w", err)
	}
	return &YuNet{session: s, opts: opts, tensors: map[[2]int]*yunetTensors{}}, nil
}

// Close releases the session and its tensors.
func (y *YuNet) Close() error {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.freeTensors()
	if y.session == nil {
		return nil
	}
	err := y.session.Destroy()
	y.session = nil
	return err
}

func (y *YuNet) freeTensors() {
	for k, t := range y.tensors {
		t.destroy()
		delete(y.tensors, k)
	}
}

func (t *yunetTensors) destroy() {
	if t.input != nil {
		t.input.Destroy()
	}
	for _, o := range t.outputs {
		o.Destroy()
	}
}

// Name is "yunet".
func (y *YuNet) Name() string { return "yunet" }

// pad32 rounds n up to a multiple of 32, the network's largest stride.
func pad32(n int) int { return (n + 31) / 32 * 32 }

// ensureTensors returns the input and output tensors for a padded size,
// allocating them the first time the size is seen.
func (y *YuNet) ensureTensors(padW, padH int) (*yunetTensors, error) {
	key := [2]int{padW, padH}
	if t := y.tensors[key]; t != nil {
		return t, nil
	}
	if len(y.tensors) >= maxTensorSizes {
		y.freeTensors()
	}
	t := &yunetTensors{}
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 3, int64(padH), int64(padW)))
	if err != nil {
		return nil, err
	}
	t.input = in
	for i, name := range yunetOutputs {
		s := yunetStrides[i%3]
		anchors := int64(padW/s) * int64(padH/s)
		per := int64(1)
		switch name[:3] {
		case "bbo":
			per = 4
		case "kps":
			per = 10
		}
		o, err := ort.NewEmptyTensor[float32](ort.NewShape(1, anchors, per))
		if err != nil {
			t.destroy()
			return nil, err
		}
		t.outputs = append(t.outputs, o)
		t.values = append(t.values, o)
	}
	y.tensors[key] = t
	return t, nil
}

// Detect finds faces in img (coordinates of img), strongest first.
func (y *YuNet) Detect(img *Picture) ([]Detection, error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.session == nil {
		return nil, errors.New("redact: yunet: detector is closed")
	}
	w, h := img.W, img.H
	if w < 1 || h < 1 {
		return nil, nil
	}
	padW, padH := pad32(w), pad32(h)
	t, err := y.ensureTensors(padW, padH)
	if err != nil {
		return nil, fmt.Errorf("redact: yunet: tensors for %dx%d: %w", padW, padH, err)
	}
	fillInput(t.input.GetData(), img, padW, padH)
	if err := y.session.Run([]ort.Value{t.input}, t.values); err != nil {
		return nil, fmt.Errorf("redact: yunet: run on %dx%d: %w", padW, padH, err)
	}
	var raw [12][]float32
	for i, o := range t.outputs {
		raw[i] = o.GetData()
	}
	dets := decodeYuNet(raw, padW, padH, y.opts.ScoreThreshold)
	return nmsDetections(dets, y.opts.NMSThreshold, y.opts.TopK), nil
}

// fillInput writes img into dst as the network wants it: planar B, G, R
// (OpenCV's blobFromImage of a BGR Mat, no mean, no scaling: the training
// config normalises with mean 0, std 1, to_rgb False), values 0..255,
// padded with zeros at the right and bottom to padW×padH (as
// FaceDetectorYN's copyMakeBorder).
func fillInput(dst []float32, img *Picture, padW, padH int) {
	plane := padW * padH
	b, g, r := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	for yy := 0; yy < img.H; yy++ {
		row := img.Pix[yy*img.Stride : yy*img.Stride+3*img.W]
		o := yy * padW
		bo, gO, ro := b[o:o+padW], g[o:o+padW], r[o:o+padW]
		for xx := 0; xx < img.W; xx++ {
			px := row[3*xx : 3*xx+3]
			bo[xx], gO[xx], ro[xx] = float32(px[0]), float32(px[1]), float32(px[2])
		}
		// The tensor is reused between calls: only the padding needs
		// zeroing, not the whole plane.
		clear(bo[img.W:])
		clear(gO[img.W:])
		clear(ro[img.W:])
	}
	from := img.H * padW
	clear(b[from:])
	clear(g[from:])
	clear(r[from:])
}

// decodeYuNet turns the 12 raw outputs (cls, obj, bbox, kps at strides 8,
// 16, 32; anchors in row-major order over a (padH/s)×(padW/s) grid, one
// anchor a cell, prior offset 0) into detections in input pixels. It
// follows the upstream head (mmdet YuNetHead._bbox_decode and _kps_decode
// with MlvlPointGenerator offset 0) and OpenCV's FaceDetectorYN:
//
//	score  = sqrt(clamp(cls, 0, 1) · clamp(obj, 0, 1))   (cls and obj are sigmoids already)
//	cx, cy = (col + dx)·s, (row + dy)·s
//	w, h   = exp(dw)·s, exp(dh)·s
//	kp_i   = ((col + kx_i)·s, (row + ky_i)·s)
func decodeYuNet(raw [12][]float32, padW, padH int, scoreThr float64) []Detection {
	var out []Detection
	for si, s := range yunetStrides {
		cols, rows := padW/s, padH/s
		cls, obj, bbox, kps := raw[si], raw[3+si], raw[6+si], raw[9+si]
		n := cols * rows
		if len(cls) < n || len(obj) < n || len(bbox) < 4*n || len(kps) < 10*n {
			continue // shape mismatch: nothing trustworthy to decode
		}
		fs := float64(s)
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				i := r*cols + c
				score := math.Sqrt(clamp01(float64(cls[i])) * clamp01(float64(obj[i])))
				if score < scoreThr {
					continue
				}
				b := bbox[4*i : 4*i+4]
				cx := (float64(c) + float64(b[0])) * fs
				cy := (float64(r) + float64(b[1])) * fs
				w := math.Exp(float64(b[2])) * fs
				h := math.Exp(float64(b[3])) * fs
				d := Detection{Box: Box{cx - w/2, cy - h/2, w, h}, Score: score, Detector: "yunet"}
				k := kps[10*i : 10*i+10]
				for p := 0; p < 5; p++ {
					d.Landmarks[p] = Point{(float64(c) + float64(k[2*p])) * fs, (float64(r) + float64(k[2*p+1])) * fs}
				}
				out = append(out, d)
			}
		}
	}
	return out
}

func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

// nmsDetections is greedy non-maximum suppression: strongest first, a box
// is dropped when its IoU with a kept box exceeds thr; at most topK kept.
// (OpenCV's NMSBoxes with eta 1 does the same.)
func nmsDetections(dets []Detection, thr float64, topK int) []Detection {
	sort.SliceStable(dets, func(i, j int) bool { return dets[i].Score > dets[j].Score })
	var kept []Detection
	for _, d := range dets {
		if len(kept) >= topK {
			break
		}
		ok := true
		for _, k := range kept {
			if iou(d.Box, k.Box) > thr {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, d)
		}
	}
	return kept
}
