package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/opendems/opendems/evidence/api/apiclient"
)

// client holds the global flags of the commands that call demsd; they
// call it through the API client generated from its OpenAPI description
// (evidence/api/apiclient).
type client struct {
	server string
	token  string
	json   bool
	// timeout bounds one call (0: 60 s); building a release takes longer.
	timeout time.Duration
}

// api returns the generated client for the server and token of the
// flags (or DEMS_SERVER / DEMS_TOKEN). A negative timeout means none
// (downloads of any size).
func (c *client) api() (*apiclient.Client, error) {
	if c.server == "" {
		return nil, fmt.Errorf("no server: pass --server URL or set DEMS_SERVER")
	}
	tok := c.token
	if tok == "" {
		tok = os.Getenv("DEMS_TOKEN")
	}
	if tok == "" {
		return nil, fmt.Errorf("no token: pass --token or set DEMS_TOKEN (an administrator's API token)")
	}
	timeout := c.timeout
	switch {
	case timeout == 0:
		timeout = 60 * time.Second
	case timeout < 0:
		timeout = 0
	}
	return &apiclient.Client{BaseURL: c.server, Token: tok, HTTP: &http.Client{Timeout: timeout}}, nil
}

func (c *client) print(v any, human func()) {
	if c.json || human == nil {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Println(string(b))
		return
	}
	human()
}

// when prints a time for people (RFC 3339, UTC), "-" for none.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
