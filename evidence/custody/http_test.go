package custody

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/custody/chain"
	"github.com/opendems/opendems/evidence/identity"
)

func (b *bundle) router(authed bool) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	if authed {
		r.Use(func(c *gin.Context) {
			p := identity.Principal{Kind: identity.KindUser, ID: uuid.New(), Name: "sup", Role: identity.RoleSupervisor}
			c.Request = c.Request.WithContext(identity.WithPrincipal(c.Request.Context(), p))
		})
	}
	for _, rt := range Routes(b.svc()) {
		r.Handle(rt.Method, rt.Path, rt.Handler)
	}
	return r
}

func TestHTTP(t *testing.T) {
	b := setup(t)
	id := b.newItem(t, nil)
	b.fill(t, id, 3)
	if _, err := Checkpoint(context.Background(), b.pool, b.store, b.key); err != nil {
		t.Fatal(err)
	}
	r := b.router(true)
	tests := []struct {
		url    string
		status int
		code   string
	}{
		{"/api/v1/custody/public-key", 200, ""},
		{"/api/v1/evidence/" + id.String() + "/custody", 200, ""},
		{"/api/v1/evidence/not-a-uuid/custody", 400, "invalid"},
		{"/api/v1/evidence/" + uuid.NewString() + "/custody", 404, "not_found"},
		{"/api/v1/custody/export?evidence=" + id.String(), 200, ""},
		{"/api/v1/custody/export?all", 200, ""},
		{"/api/v1/custody/export?all=true&checkpoints=all", 200, ""},
		{"/api/v1/custody/export?case=" + uuid.NewString(), 200, ""},
		{"/api/v1/custody/export", 400, "invalid"},
		{"/api/v1/custody/export?all&evidence=" + id.String(), 400, "invalid"},
		{"/api/v1/custody/export?evidence=x", 400, "invalid"},
		{"/api/v1/custody/export?all&checkpoints=some", 400, "invalid"},
		{"/api/v1/custody/export?evidence=" + uuid.NewString(), 404, "not_found"},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.url, nil))
		if w.Code != tc.status {
			t.Errorf("%s: status %d (%s)", tc.url, w.Code, w.Body)
			continue
		}
		if tc.code != "" {
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Errorf("%s: error body %s (content type %s)", tc.url, w.Body, w.Header().Get("Content-Type"))
			}
		}
	}
	// The published key verifies the export.
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/custody/public-key", nil))
	var pk struct{ PEM string }
	json.Unmarshal(w.Body.Bytes(), &pk)
	key, err := chain.ParsePublicKey([]byte(pk.PEM))
	if err != nil || !key.Equal(b.pub) {
		t.Fatalf("public key %v", err)
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/custody/export?evidence="+id.String(), nil))
	rep, err := chain.VerifyExport(bytes.NewReader(w.Body.Bytes()), key)
	if err != nil || rep.Events != 3 || rep.Proofs != 1 || w.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("export %+v %v", rep, err)
	}
	// The chain view carries hashes and verifies.
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/evidence/"+id.String()+"/custody", nil))
	var ch ChainResponse
	if err := json.Unmarshal(w.Body.Bytes(), &ch); err != nil || !ch.Verified || len(ch.Events) != 3 || ch.Events[2].PrevHash != ch.Events[1].Hash {
		t.Fatalf("chain %s %v", w.Body, err)
	}
	// Without a principal only the public key is served.
	anon := b.router(false)
	for url, want := range map[string]int{"/api/v1/custody/public-key": 200,
		"/api/v1/custody/export?all": 401, "/api/v1/evidence/" + id.String() + "/custody": 401} {
		w := httptest.NewRecorder()
		anon.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
		if w.Code != want {
			t.Errorf("anonymous %s: %d", url, w.Code)
		}
	}
}
