package transcode_test

import (
	"errors"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/opendems/opendems/transcode"
)

func TestProxySize(t *testing.T) {
	t.Parallel()
	square := astiav.NewRational(1, 1)
	tests := []struct {
		name        string
		w, h        int
		sar         astiav.Rational
		rotation    int
		short, long int
		wantW       int
		wantH       int
	}{
		{"1080p to 720p", 1920, 1080, square, 0, 720, 1280, 1280, 720},
		{"small kept", 640, 360, square, 0, 720, 1280, 640, 360},
		{"odd rounded down", 321, 239, square, 0, 720, 1280, 320, 238},
		{"portrait 1080x1920", 1080, 1920, square, 0, 720, 1280, 720, 1280},
		{"rotated 90", 1920, 1080, square, 90, 720, 1280, 720, 1280},
		{"rotated 270", 320, 240, square, 270, 720, 1280, 240, 320},
		{"rotated 180 keeps", 320, 240, square, 180, 720, 1280, 320, 240},
		{"4:3 above 720", 1280, 960, square, 0, 720, 1280, 960, 720},
		{"ultra wide", 3840, 1080, square, 0, 720, 1280, 1280, 360},
		{"anamorphic DV", 720, 576, astiav.NewRational(16, 15), 0, 720, 1280, 768, 576},
		{"unknown sar", 640, 480, astiav.NewRational(0, 1), 0, 720, 1280, 640, 480},
		{"tiny", 1, 1, square, 0, 720, 1280, 2, 2},
		{"thumbnail bound", 1920, 1080, square, 0, 640, 640, 640, 360},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, h := transcode.ProxySize(tc.w, tc.h, tc.sar, tc.rotation, tc.short, tc.long)
			if w != tc.wantW || h != tc.wantH {
				t.Errorf("ProxySize = %dx%d, want %dx%d", w, h, tc.wantW, tc.wantH)
			}
		})
	}
}

func TestRotationFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		deg  int
		want string
	}{{0, ""}, {90, "transpose=clock"}, {180, "hflip,vflip"}, {270, "transpose=cclock"}, {-90, "transpose=cclock"}, {450, "transpose=clock"}, {89, "transpose=clock"}} {
		if got := transcode.RotationFilter(tc.deg); got != tc.want {
			t.Errorf("RotationFilter(%d) = %q, want %q", tc.deg, got, tc.want)
		}
	}
}

func TestParseISO6709(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		lat, long float64
		alt       *float64
		ok        bool
	}{
		{"+51.5074-000.1278/", 51.5074, -0.1278, nil, true},
		{"+37.3318-122.0312+012.345/", 37.3318, -122.0312, ptr(12.345), true},
		{"-33.8688+151.2093-005.000CRSWGS_84/", -33.8688, 151.2093, ptr(-5), true},
		{"+40.7128-074.0060", 40.7128, -74.006, nil, true},
		{"", 0, 0, nil, false},
		{"51.5-0.12/", 0, 0, nil, false},
		{"+91.0+000.0/", 0, 0, nil, false},
		{"+10.0+181.0/", 0, 0, nil, false},
		{"+10.0/", 0, 0, nil, false},
		{"+1+2+3+4/", 0, 0, nil, false},
		{"+1.2.3+4/", 0, 0, nil, false},
		{"+NaN+1/", 0, 0, nil, false},
		{"++1/", 0, 0, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			loc, err := transcode.ParseISO6709(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if loc.Latitude != tc.lat || loc.Longitude != tc.long || loc.Raw != tc.in {
				t.Errorf("got %+v", loc)
			}
			if (loc.Altitude == nil) != (tc.alt == nil) || (tc.alt != nil && *loc.Altitude != *tc.alt) {
				t.Errorf("altitude %v, want %v", loc.Altitude, tc.alt)
			}
		})
	}
}

func ptr(f float64) *float64 { return &f }

func TestParseCreationTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"2024-05-01T12:34:56.000000Z", "2024-05-01T12:34:56Z"},
		{"2023-11-02T08:09:10+0100", "2023-11-02T07:09:10Z"},
		{"2023-11-02T08:09:10+01:00", "2023-11-02T07:09:10Z"},
		{"2020:01:02 03:04:05", "2020-01-02T03:04:05Z"},
		{"not a date", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := transcode.ParseCreationTime(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%q: want error, got %v", tc.in, got)
			}
			continue
		}
		if err != nil || got.Format("2006-01-02T15:04:05Z07:00") != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestCloserOrderAndErrors(t *testing.T) {
	t.Parallel()
	c := transcode.NewCloser()
	var order []int
	boom := errors.New("boom")
	c.Add(func() { order = append(order, 1) })
	c.AddWithError(func() error { order = append(order, 2); return boom })
	c.Add(func() { order = append(order, 3) })
	if err := c.Close(); !errors.Is(err, boom) {
		t.Errorf("Close error %v, want boom", err)
	}
	if len(order) != 3 || order[0] != 3 || order[1] != 2 || order[2] != 1 {
		t.Errorf("order %v, want [3 2 1]", order)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ran := false
	c.Add(func() { ran = true })
	if !ran {
		t.Error("Add after Close must free at once")
	}
}
