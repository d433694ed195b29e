package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/dock"
	"github.com/opendems/opendems/evidence/ingest/wire"
	"github.com/opendems/opendems/storage"
)

// uploadAllChunks creates a session for the file and sends every chunk,
// without committing. It returns the session id and the file's SHA-256.
func uploadAllChunks(t *testing.T, c *dock.Client, p string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	sess, err := c.CreateSession(t.Context(), wire.CreateRequest{SHA256: h, Size: int64(len(b))})
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < int64(len(b)); {
		n := wire.ExpectedChunkLength(int64(len(b)), sess.ChunkSize, off)
		chunk := b[off : off+n]
		next, err := c.PutChunk(t.Context(), sess.SessionID, off, bytes.NewReader(chunk), n, sha256.Sum256(chunk))
		if err != nil {
			t.Fatalf("chunk at %d: %v", off, err)
		}
		off = next
	}
	return sess.SessionID, h
}

// simulateCompleteCrash does what Commit does up to storage Complete and
// stops there, as a crash would.
func simulateCompleteCrash(t *testing.T, e *env, sid string) {
	t.Helper()
	ctx := t.Context()
	var upload string
	var sum []byte
	if err := e.db.Pool.QueryRow(ctx, `UPDATE ingest_sessions SET state = 'completing' WHERE id = $1 RETURNING upload_id, sha256`, sid).Scan(&upload, &sum); err != nil {
		t.Fatal(err)
	}
	rows, err := e.db.Pool.Query(ctx, `SELECT number, "offset", size, etag, hash_state FROM ingest_parts WHERE session_id = $1 ORDER BY number`, sid)
	if err != nil {
		t.Fatal(err)
	}
	var parts []storage.Part
	for rows.Next() {
		var p storage.Part
		if err := rows.Scan(&p.Number, &p.Offset, &p.Size, &p.ETag, &p.HashState); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	rows.Close()
	ref := storage.Ref{Namespace: storage.Originals, Digest: storage.Digest(sum)}
	if _, err := e.store.Complete(ctx, storage.UploadID(upload), ref, parts); err != nil {
		t.Fatalf("storage complete: %v", err)
	}
}

// raw sends a request with the dock's token and returns status and body.
func (e *env) raw(t *testing.T, method, path string, body io.Reader, hdr map[string]string) (int, wire.Body, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cl, ok := hdr["Content-Length"]; ok {
		req.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb wire.Body
	json.Unmarshal(b, &eb)
	return resp.StatusCode, eb, b
}

func chunkPath(sid string, off int64) string {
	return wire.PathSessions + "/" + sid + "/chunks?offset=" + strconv.FormatInt(off, 10)
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// newSession creates a session for data (declaring declSHA/declSize).
func (e *env) newSession(t *testing.T, declSHA string, declSize int64) string {
	t.Helper()
	sess, err := e.client(t).CreateSession(t.Context(), wire.CreateRequest{SHA256: declSHA, Size: declSize, Filename: "x.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	return sess.SessionID
}

func (e *env) offset(t *testing.T, sid string) int64 {
	t.Helper()
	s, err := e.client(t).GetSession(t.Context(), sid)
	if err != nil {
		t.Fatal(err)
	}
	return s.Offset
}

func TestChunkRejections(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) { testChunkRejections(t, backend) })
	}
}

func testChunkRejections(t *testing.T, backend string) {
	e := newEnv(t, backend)
	data := make([]byte, testChunk+100)
	rand.Read(data)
	first := data[:testChunk]
	tests := []struct {
		name   string
		off    int64
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"wrong chunk hash", 0, first, map[string]string{wire.HeaderChunkSHA256: hexSum([]byte("x"))}, 422, wire.CodeChunkDigestMismatch},
		{"missing chunk hash", 0, first, map[string]string{}, 400, wire.CodeBadRequest},
		{"malformed chunk hash", 0, first, map[string]string{wire.HeaderChunkSHA256: "abc"}, 400, wire.CodeBadRequest},
		{"not at durable offset", testChunk, data[testChunk:], nil, 409, wire.CodeOffsetMismatch},
		{"short chunk", 0, first[:100], nil, 400, wire.CodeChunkLength},
		{"over-long chunk", 0, data[:testChunk+1], nil, 413, wire.CodeChunkTooLarge},
		{"missing offset", -1, first, nil, 400, wire.CodeBadRequest},
		{"empty chunk", 0, []byte{}, nil, 400, wire.CodeChunkLength},
	}
	sid := e.newSession(t, hexSum(data), int64(len(data)))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{wire.HeaderChunkSHA256: hexSum(tc.body)}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			if _, ok := tc.hdr[wire.HeaderChunkSHA256]; !ok && tc.hdr != nil {
				delete(hdr, wire.HeaderChunkSHA256)
			}
			path := chunkPath(sid, tc.off)
			if tc.off < 0 {
				path = wire.PathSessions + "/" + sid + "/chunks"
			}
			status, eb, raw := e.raw(t, http.MethodPut, path, bytes.NewReader(tc.body), hdr)
			if status != tc.status || eb.Error == nil || eb.Error.Code != tc.code || eb.Error.Message == "" {
				t.Fatalf("status %d body %s, want %d %s", status, raw, tc.status, tc.code)
			}
			if tc.code == wire.CodeOffsetMismatch && (eb.Error.Offset == nil || *eb.Error.Offset != 0) {
				t.Errorf("offset_mismatch without the durable offset: %s", raw)
			}
			if got := e.offset(t, sid); got != 0 {
				t.Errorf("durable offset moved to %d after a rejected chunk", got)
			}
		})
	}
	// Chunked transfer encoding (no Content-Length) is refused.
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+chunkPath(sid, 0), io.MultiReader(bytes.NewReader(first)))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set(wire.HeaderChunkSHA256, hexSum(first))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired {
		t.Errorf("chunked body: status %d, want 411", resp.StatusCode)
	}
	// A good first chunk, then the last chunk longer than what is left.
	if status, _, raw := e.raw(t, http.MethodPut, chunkPath(sid, 0), bytes.NewReader(first), map[string]string{wire.HeaderChunkSHA256: hexSum(first)}); status != 200 {
		t.Fatalf("good chunk: %d %s", status, raw)
	}
	beyond := make([]byte, 200)
	if status, eb, raw := e.raw(t, http.MethodPut, chunkPath(sid, testChunk), bytes.NewReader(beyond), map[string]string{wire.HeaderChunkSHA256: hexSum(beyond)}); status != 400 || eb.Error.Code != wire.CodeBeyondSize {
		t.Errorf("chunk past the declared size: %d %s", status, raw)
	}
	// Re-sending the acknowledged chunk (lost response) is answered with
	// the current offset.
	if status, _, raw := e.raw(t, http.MethodPut, chunkPath(sid, 0), bytes.NewReader(first), map[string]string{wire.HeaderChunkSHA256: hexSum(first)}); status != 200 || !strings.Contains(string(raw), fmt.Sprintf(`"offset":%d`, testChunk)) {
		t.Errorf("idempotent resend: %d %s", status, raw)
	}
	// Commit before the last chunk.
	if status, eb, raw := e.raw(t, http.MethodPost, wire.PathSessions+"/"+sid+"/commit", nil, nil); status != 409 || eb.Error.Code != wire.CodeIncomplete {
		t.Errorf("early commit: %d %s", status, raw)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 0 {
		t.Errorf("%d items", n)
	}
	// The last chunk with a wrong hash, then right: the rejected bytes
	// never reach the object.
	last := data[testChunk:]
	if status, eb, raw := e.raw(t, http.MethodPut, chunkPath(sid, testChunk), bytes.NewReader(last), map[string]string{wire.HeaderChunkSHA256: hexSum(first)}); status != 422 || eb.Error.Code != wire.CodeChunkDigestMismatch {
		t.Fatalf("wrong hash on the last chunk: %d %s", status, raw)
	}
	if status, _, raw := e.raw(t, http.MethodPut, chunkPath(sid, testChunk), bytes.NewReader(last), map[string]string{wire.HeaderChunkSHA256: hexSum(last)}); status != 200 {
		t.Fatalf("last chunk: %d %s", status, raw)
	}
	cr, err := e.client(t).Commit(t.Context(), sid)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if cr.Receipt.SHA256 != hexSum(data) {
		t.Errorf("receipt for %s", cr.Receipt.SHA256)
	}
	e.assertNoOrphans(t)
}

// A chunk body that ends before its Content-Length (the connection dropped)
// is refused as truncated and leaves the durable offset where it was.
func TestTruncatedChunk(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			data := make([]byte, testChunk+100)
			rand.Read(data)
			sid := e.newSession(t, hexSum(data), int64(len(data)))
			u, _ := url.Parse(e.srv.URL)
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n%s: %s\r\nContent-Length: %d\r\n\r\n",
				chunkPath(sid, 0), u.Host, e.token, wire.HeaderChunkSHA256, hexSum(data[:testChunk]), testChunk)
			conn.Write(data[:testChunk/2])
			conn.(*net.TCPConn).CloseWrite()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("reading response: %v", err)
			}
			var eb wire.Body
			json.NewDecoder(resp.Body).Decode(&eb)
			if resp.StatusCode != 400 || eb.Error == nil || eb.Error.Code != wire.CodeTruncated {
				t.Errorf("truncated chunk: %d %+v", resp.StatusCode, eb.Error)
			}
			if got := e.offset(t, sid); got != 0 {
				t.Errorf("durable offset %d after a truncated chunk", got)
			}
			// The session still works: the real chunks complete it.
			c := e.client(t)
			for off := int64(0); off < int64(len(data)); {
				n := wire.ExpectedChunkLength(int64(len(data)), testChunk, off)
				next, err := c.PutChunk(t.Context(), sid, off, bytes.NewReader(data[off:off+n]), n, sha256.Sum256(data[off:off+n]))
				if err != nil {
					t.Fatal(err)
				}
				off = next
			}
			if _, err := c.Commit(t.Context(), sid); err != nil {
				t.Fatalf("commit after a truncated attempt: %v", err)
			}
			e.assertNoOrphans(t)
		})
	}
}

// Bytes that do not hash to the declared SHA-256 (or a declared size the
// bytes do not fill) never become evidence, and their data is discarded.
func TestWholeFileMismatch(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			data := make([]byte, testChunk+100)
			rand.Read(data)
			other := hexSum([]byte("something else"))
			sid := e.newSession(t, other, int64(len(data)))
			c := e.client(t)
			for off := int64(0); off < int64(len(data)); {
				n := wire.ExpectedChunkLength(int64(len(data)), testChunk, off)
				next, err := c.PutChunk(t.Context(), sid, off, bytes.NewReader(data[off:off+n]), n, sha256.Sum256(data[off:off+n]))
				if err != nil {
					t.Fatal(err)
				}
				off = next
			}
			_, err := c.Commit(t.Context(), sid)
			if wireCode(err) != wire.CodeDigestMismatch || dock.Classify(err) != dock.Permanent {
				t.Fatalf("commit of wrong bytes: %v", err)
			}
			// Asking again says the same; chunks are refused.
			_, err = c.Commit(t.Context(), sid)
			if wireCode(err) != wire.CodeDigestMismatch {
				t.Errorf("second commit: %v", err)
			}
			if n := e.count(t, `SELECT count(*) FROM ingest_sessions WHERE id = $1 AND state = 'failed' AND error_code = 'digest_mismatch'`, uuid.MustParse(sid)); n != 1 {
				t.Errorf("session not failed")
			}
			if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 0 {
				t.Errorf("%d items from wrong bytes", n)
			}
			d, _ := storage.ParseDigest(other)
			if _, err := e.store.Stat(context.Background(), storage.Ref{Namespace: storage.Originals, Digest: d}); err == nil {
				t.Errorf("an object became visible under the wrong digest")
			}
			e.assertNoOrphans(t)

			// The agent's view: a file whose bytes change after hashing is a
			// permanent failure.
			p := writeRandom(t, t.TempDir(), "f.mp4", 1000)
			h, err := dock.HashFile(t.Context(), p, nil)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(p, make([]byte, 1000), 0o644)
			_, err = e.uploader(t).Upload(t.Context(), dock.Upload{Path: p, Hash: h})
			if dock.Classify(err) != dock.Permanent {
				t.Errorf("changed file: %v, want permanent", err)
			}
			if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 0 {
				t.Errorf("%d items from a changed file", n)
			}
		})
	}
}

func TestCreateRejections(t *testing.T) {
	e := newEnv(t, "fs")
	good := hexSum([]byte("x"))
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"not json", `{`, 400, wire.CodeInvalidRequest},
		{"unknown field", `{"sha256":"` + good + `","size":1,"bogus":1}`, 400, wire.CodeInvalidRequest},
		{"bad sha", `{"sha256":"zz","size":1}`, 400, wire.CodeInvalidRequest},
		{"zero size", `{"sha256":"` + good + `","size":0}`, 400, wire.CodeInvalidRequest},
		{"negative size", `{"sha256":"` + good + `","size":-5}`, 400, wire.CodeInvalidRequest},
		{"too large", `{"sha256":"` + good + `","size":` + strconv.FormatInt(testChunk*wire.MaxParts+1, 10) + `}`, 413, wire.CodeTooLarge},
		{"bad source", `{"sha256":"` + good + `","size":1,"metadata":{"source_kind":"drone"}}`, 400, wire.CodeInvalidRequest},
		{"path in filename", `{"sha256":"` + good + `","size":1,"filename":"../etc/passwd"}`, 400, wire.CodeInvalidRequest},
		{"trailing data", `{"sha256":"` + good + `","size":1} {}`, 400, wire.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, eb, raw := e.raw(t, http.MethodPost, wire.PathSessions, strings.NewReader(tc.body), map[string]string{"Content-Type": "application/json"})
			if status != tc.status || eb.Error == nil || eb.Error.Code != tc.code {
				t.Errorf("status %d %s, want %d %s", status, raw, tc.status, tc.code)
			}
		})
	}
	if n := e.count(t, `SELECT count(*) FROM ingest_sessions`); n != 0 {
		t.Errorf("%d sessions from bad requests", n)
	}
	// Unknown and foreign sessions are not found.
	for _, id := range []string{"not-a-uuid", uuid.NewString()} {
		if status, eb, _ := e.raw(t, http.MethodGet, wire.PathSessions+"/"+id, nil, nil); status != 404 || eb.Error.Code != wire.CodeNotFound {
			t.Errorf("GET %s: %d", id, status)
		}
	}
	sid := e.newSession(t, good, 1)
	_, tok2, _ := e.ids.EnrollDock(t.Context(), "station-2", "patrol", "", nil)
	c2, _ := dock.NewClient(e.srv.URL, tok2, nil)
	if _, err := c2.GetSession(t.Context(), sid); wireCode(err) != wire.CodeNotFound {
		t.Errorf("another dock reading the session: %v", err)
	}
	// Without authentication the handlers refuse (the middleware, here, and
	// the handler itself if mounted without one).
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+wire.PathSessions+"/"+sid, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unauthenticated: %d", resp.StatusCode)
	}
}

// A backend that refuses every part (here: chunks larger than the S3
// backend's part size, a configuration error) yields a retryable 503, not
// an endless offset re-sync; the agent gives up after its retry budget.
func TestStorageRefusesParts(t *testing.T) {
	e := newEnv(t, "s3") // part size testChunk
	e.cfg.ChunkSize = testChunk + 1<<20
	e.restart()
	p := writeRandom(t, t.TempDir(), "a.mp4", testChunk+2<<20)
	up := e.uploader(t)
	up.MaxTransient = 3
	_, err := up.Upload(t.Context(), dock.Upload{Path: p})
	if dock.Classify(err) != dock.Transient || wireCode(err) != wire.CodeUnavailable {
		t.Fatalf("upload = %v, want a transient unavailable error", err)
	}
	if n := e.count(t, `SELECT count(*) FROM evidence_items`); n != 0 {
		t.Errorf("%d items", n)
	}
}
