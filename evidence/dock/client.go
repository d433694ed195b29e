package dock

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

// Client speaks the ingest protocol to one server with one token.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient returns a client for the server at serverURL (scheme and host,
// optionally a path prefix). hc nil means http.DefaultClient.
func NewClient(serverURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("dock: server URL %q: %w", serverURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("dock: server URL %q: want http(s)://host[:port]", serverURL)
	}
	if token == "" {
		return nil, fmt.Errorf("dock: empty token")
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, token: token, http: hc}, nil
}

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}

// do sends a request and decodes a 2xx JSON answer into out, or returns
// the server's *wire.Error (HTTPStatus set).
func (c *Client) do(req *http.Request, out any) error {
	_, err := c.doStatus(req, func(int) any { return out })
	return err
}

// doStatus is do with the answer's status, and out chosen by it.
func (c *Client) doStatus(req *http.Request, outFor func(status int) any) (int, error) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("dock: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("dock: %s %s: reading response: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var eb wire.Body
		if json.Unmarshal(body, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
			eb.Error.HTTPStatus = resp.StatusCode
			return resp.StatusCode, eb.Error
		}
		return resp.StatusCode, &wire.Error{Code: fmt.Sprintf("http_%d", resp.StatusCode), HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("%s %s: %s", req.Method, req.URL.Path, strings.TrimSpace(string(body[:min(len(body), 200)])))}
	}
	out := outFor(resp.StatusCode)
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return resp.StatusCode, fmt.Errorf("dock: %s %s: decoding response: %w", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, nil
}

// ReceiptKey fetches the server's receipt-verification key.
func (c *Client) ReceiptKey(ctx context.Context) (receipt.PublicKey, error) {
	var pk receipt.PublicKey
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(wire.PathReceiptKey, nil), nil)
	if err != nil {
		return pk, err
	}
	err = c.do(req, &pk)
	return pk, err
}

// CreateSession starts or resumes an upload (or learns it is a duplicate).
func (c *Client) CreateSession(ctx context.Context, cr wire.CreateRequest) (wire.CreateResponse, error) {
	var out wire.CreateResponse
	b, err := json.Marshal(cr)
	if err != nil {
		return out, fmt.Errorf("dock: create session: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(wire.PathSessions, nil), bytes.NewReader(b))
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", "application/json")
	err = c.do(req, &out)
	return out, err
}

// GetSession asks where a session stands (the durable offset).
func (c *Client) GetSession(ctx context.Context, id string) (wire.Session, error) {
	var out wire.Session
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(wire.PathSessions+"/"+url.PathEscape(id), nil), nil)
	if err != nil {
		return out, err
	}
	err = c.do(req, &out)
	return out, err
}

// PutChunk sends n bytes from body as the chunk at offset and returns the
// new durable offset.
func (c *Client) PutChunk(ctx context.Context, id string, offset int64, body io.Reader, n int64, sum [32]byte) (int64, error) {
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url(wire.PathSessions+"/"+url.PathEscape(id)+"/chunks", q), io.NopCloser(body))
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(wire.HeaderChunkSHA256, hex.EncodeToString(sum[:]))
	var out wire.ChunkResponse
	if err := c.do(req, &out); err != nil {
		return 0, err
	}
	return out.Offset, nil
}

// Commit asks the server to verify and commit the upload.
func (c *Client) Commit(ctx context.Context, id string) (wire.CommitResponse, error) {
	var out wire.CommitResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(wire.PathSessions+"/"+url.PathEscape(id)+"/commit", nil), nil)
	if err != nil {
		return out, err
	}
	err = c.do(req, &out)
	return out, err
}

// CommitAnswer is the answer to an acknowledging commit: the receipt when
// the session is committed already (Done), else the session as it stands
// (state completing), to be polled with GetSession until it is committed.
type CommitAnswer struct {
	Done    bool
	Commit  wire.CommitResponse // when Done
	Session wire.Session        // when not Done
}

// CommitAsync asks the server to commit the upload and to answer as soon
// as the commit is recorded (Prefer: respond-async): 202 and the session,
// whose receipt GetSession returns once verification and the item's
// transaction are done. A server that does not honour the preference
// answers 200 with the receipt, which is returned as Done.
func (c *Client) CommitAsync(ctx context.Context, id string) (CommitAnswer, error) {
	var a CommitAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(wire.PathSessions+"/"+url.PathEscape(id)+"/commit", nil), nil)
	if err != nil {
		return a, err
	}
	req.Header.Set(wire.HeaderPrefer, wire.PreferAsync)
	status, err := c.doStatus(req, func(status int) any {
		if status == http.StatusAccepted {
			return &a.Session
		}
		return &a.Commit
	})
	a.Done = err == nil && status != http.StatusAccepted
	return a, err
}

// AbortSession gives up a session.
func (c *Client) AbortSession(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url(wire.PathSessions+"/"+url.PathEscape(id), nil), nil)
	if err != nil {
		return err
	}
	return c.do(req, nil)
}
