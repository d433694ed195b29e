package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

type bindTarget struct {
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Notes map[string]string `json:"notes"`
	Inner *struct {
		Text string `json:"text"`
	} `json:"inner"`
}

// TestBind table-tests the one JSON binder: every way a body can be wrong
// answers its own status and code, and nothing wrong reaches a handler.
func TestBind(t *testing.T) {
	gin.SetMode(gin.TestMode)
	cases := []struct {
		name, body, ctype string
		limit             int64
		optional          bool
		status            int
		code              string
	}{
		{"valid", `{"name":"a","tags":["x"],"notes":{"k":"v"},"inner":{"text":"t"}}`, "application/json", 0, false, 200, ""},
		{"content type with charset", `{"name":"a"}`, "application/json; charset=utf-8", 0, false, 200, ""},
		{"empty optional", ``, "", 0, true, 200, ""},
		{"empty required", ``, "application/json", 0, false, 400, "malformed_json"},
		{"wrong content type", `{"name":"a"}`, "text/plain", 0, false, 415, "unsupported_media_type"},
		{"no content type", `{"name":"a"}`, "", 0, false, 415, "unsupported_media_type"},
		{"unknown field", `{"name":"a","nmae":"b"}`, "application/json", 0, false, 400, "malformed_json"},
		{"malformed", `{"name":`, "application/json", 0, false, 400, "malformed_json"},
		{"trailing data", `{"name":"a"} {}`, "application/json", 0, false, 400, "malformed_json"},
		{"too large", `{"name":"` + strings.Repeat("a", 2000) + `"}`, "application/json", 1024, false, 413, "too_large"},
		{"NUL in a string", `{"name":"a\u0000b"}`, "application/json", 0, false, 400, "invalid"},
		{"NUL in a list", `{"tags":["ok","\u0000"]}`, "application/json", 0, false, 400, "invalid"},
		{"NUL in a map key", `{"notes":{"\u0000":"v"}}`, "application/json", 0, false, 400, "invalid"},
		{"NUL nested", `{"inner":{"text":"x\u0000"}}`, "application/json", 0, false, 400, "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				c.Request.Header.Set("Content-Type", tc.ctype)
			}
			if tc.limit > 0 {
				c.Set(bodyLimitKey, tc.limit)
			}
			var v bindTarget
			ok := bind(c, &v, tc.optional)
			if tc.status == 200 {
				if !ok {
					t.Fatalf("refused: %d %s", w.Code, w.Body)
				}
				return
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			json.Unmarshal(w.Body.Bytes(), &body)
			if ok || w.Code != tc.status || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Fatalf("ok=%v %d %s, want %d %s", ok, w.Code, w.Body, tc.status, tc.code)
			}
		})
	}
}

// TestEveryKindHasAStatus keeps the kind table complete: an unmapped kind
// would answer 500.
func TestEveryKindHasAStatus(t *testing.T) {
	for _, k := range evidence.Kinds {
		if _, ok := kindStatus[k]; !ok {
			t.Errorf("kind %q has no status", k)
		}
	}
}

// TestWriteError checks the one writer's mapping and body shape for
// wrapped kinds, coded errors, details, leaves and unexpected errors.
func TestWriteError(t *testing.T) {
	gin.SetMode(gin.TestMode)
	off := int64(42)
	cases := []struct {
		err     error
		status  int
		code    string
		message string // "" = any non-empty
	}{
		{fmt.Errorf("review: case 7: %w", evidence.ErrNotFound), 404, "not_found", "not found"},
		{evidence.Invalid("title", "at most 200 characters"), 400, "invalid", "title: at most 200 characters"},
		{fmt.Errorf("op: %w", evidence.Invalid("x", "y")), 400, "invalid", "x: y"},
		{&evidence.Error{Kind: evidence.ErrConflict, Code: "legal_hold", Msg: "held"}, 409, "legal_hold", "held"},
		{evidence.E(evidence.ErrGone, "op", "purged", errors.New("secret cause")), 410, "gone", "purged"},
		{evidence.ErrPermission, 403, "forbidden", ""},
		{evidence.ErrUnauthenticated, 401, "unauthenticated", ""},
		{evidence.E(evidence.ErrUnavailable, "", "down", nil), 503, "unavailable", "down"},
		{evidence.E(evidence.ErrRateLimited, "", "slow down", nil), 429, "rate_limited", "slow down"},
		{fmt.Errorf("get: %w", storage.ErrNotFound), 404, "not_found", "not found"},
		{&wire.Error{Code: wire.CodeOffsetMismatch, Message: "resync", Offset: &off}, 409, wire.CodeOffsetMismatch, "resync"},
		{errors.New("pq: connection refused to 10.0.0.3"), 500, "internal", "internal error"},
	}
	for _, tc := range cases {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		WriteError(c, tc.err)
		var body struct {
			Error map[string]any `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %s", tc.err, w.Body)
		}
		msg, _ := body.Error["message"].(string)
		if w.Code != tc.status || body.Error["code"] != tc.code || msg == "" || (tc.message != "" && msg != tc.message) {
			t.Errorf("%v: %d %s, want %d %s %q", tc.err, w.Code, w.Body, tc.status, tc.code, tc.message)
		}
		if strings.Contains(w.Body.String(), "secret cause") || strings.Contains(w.Body.String(), "10.0.0.3") {
			t.Errorf("%v: the cause leaked: %s", tc.err, w.Body)
		}
	}
	// Detail fields join the error object (the ingest protocol's offset).
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	WriteError(c, &wire.Error{Code: wire.CodeOffsetMismatch, Message: "resync", Offset: &off})
	if !strings.Contains(w.Body.String(), `"offset":42`) {
		t.Errorf("offset detail missing: %s", w.Body)
	}
}

// FuzzBind: no body makes the binder panic, and whatever it accepts holds
// no NUL byte.
func FuzzBind(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"tags":["\u0000"]}`, `{"inner":{"text":"x"}}`, `[]`, `{"notes":{"a":"b"}}`, "\x00"} {
		f.Add(s)
	}
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		c.Request.Header.Set("Content-Type", "application/json")
		var v bindTarget
		if bind(c, &v, true) {
			if _, bad := findNUL(reflect.ValueOf(&v), ""); bad {
				t.Fatalf("accepted a NUL byte: %q", body)
			}
		} else if w.Code < 400 || w.Code >= 500 {
			t.Fatalf("refused with %d: %q", w.Code, body)
		}
	})
}
