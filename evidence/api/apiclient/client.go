package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

//go:generate go run ./internal/gen -in openapi.json -out client_gen.go

// Client calls demsd. The generated methods (client_gen.go) are named
// after the operations' operationIds; each sends one request and decodes
// the answer into the operation's declared type.
type Client struct {
	// BaseURL is the server, e.g. http://localhost:8080.
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>" (a user's API
	// token or a dock's token); empty sends none.
	Token string
	// HTTP sends the requests (nil: http.DefaultClient). Its timeout, if
	// any, bounds each call; so does the context.
	HTTP *http.Client
	// MaxAnswer bounds a JSON answer's size (0: 64 MiB).
	MaxAnswer int64
}

// Error is the server's JSON error: {"error":{"code","message",...}},
// with the status it came with. Detail holds the fields an error adds
// (e.g. the allowed states of a refused transition).
type Error struct {
	Status  int                        `json:"-"`
	Code    string                     `json:"code"`
	Message string                     `json:"message"`
	Detail  map[string]json.RawMessage `json:"-"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// body is what a request sends.
type body interface {
	reader() (io.Reader, string, error)
}

type jsonBody struct{ v any }

func (b jsonBody) reader() (io.Reader, string, error) {
	raw, err := json.Marshal(b.v)
	if err != nil {
		return nil, "", err
	}
	return bytes.NewReader(raw), "application/json", nil
}

// optionalJSON sends v when it is not nil (a body the server may go
// without).
func optionalJSON[T any](v *T) body {
	if v == nil {
		return nil
	}
	return jsonBody{v}
}

type rawBody struct {
	contentType string
	r           io.Reader
}

func (b rawBody) reader() (io.Reader, string, error) { return b.r, b.contentType, nil }

func strconvItoa(n int64) string { return strconv.FormatInt(n, 10) }
func strconvBool(b bool) string  { return strconv.FormatBool(b) }

// Do sends a request and returns a successful (2xx) answer for the
// caller to read and close; any other answer is returned as *Error.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, header http.Header, b body) (*http.Response, error) {
	if c.BaseURL == "" {
		return nil, fmt.Errorf("apiclient: no server URL")
	}
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var r io.Reader
	var ct string
	if b != nil {
		var err error
		if r, ct, err = b.reader(); err != nil {
			return nil, fmt.Errorf("apiclient: %s %s: %w", method, path, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, fmt.Errorf("apiclient: %s %s: %w", method, path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, decodeError(resp.StatusCode, raw)
}

// decodeError reads the server's JSON error, or keeps the text of any
// other answer (a proxy's error page).
func decodeError(status int, raw []byte) error {
	var env struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	e := &Error{Status: status}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil {
		json.Unmarshal(env.Error["code"], &e.Code)
		json.Unmarshal(env.Error["message"], &e.Message)
		delete(env.Error, "code")
		delete(env.Error, "message")
		if len(env.Error) > 0 {
			e.Detail = env.Error
		}
	}
	if e.Code == "" {
		e.Code, e.Message = "http", strings.TrimSpace(string(raw))
	}
	return e
}

// call sends a request and decodes a JSON answer into out (nil: the
// answer has no body).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, header http.Header, b body, out any) error {
	resp, err := c.Do(ctx, method, path, query, header, b)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	limit := c.MaxAnswer
	if limit == 0 {
		limit = 64 << 20
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("apiclient: %s %s: read answer: %w", method, path, err)
	}
	if int64(len(raw)) > limit {
		return fmt.Errorf("apiclient: %s %s: answer larger than %d bytes", method, path, limit)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("apiclient: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}
