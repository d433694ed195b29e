package audit

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
)

// Routes is the audit log's part of the route table (auditors and
// administrators, decided by the enforcement point; the handler still
// refuses requests without an authenticated principal).
func Routes(db Querier) []api.Route {
	return []api.Route{{Method: "GET", Path: "/api/v1/audit",
		Access: api.Access{Action: "audit:read", Summary: "Search the system audit log (JSON or CSV)"}, Handler: Handler(db),
		Op: "searchAudit", Query: SearchQuery{}, Out: Page{}, OutContent: "text/csv"}}
}

// Handler serves the audit log, filtered by query parameters: from, to
// (RFC 3339), user (actor such as "user:jdoe", or a bare username), user_id,
// event_type, outcome, evidence, after (seq cursor), limit; format=csv
// returns CSV instead of JSON. Every read is itself audited before any
// record is returned; if that fails, nothing is returned.
func Handler(db Querier) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := identity.FromContext(c.Request.Context())
		if !ok {
			api.WriteError(c, evidence.ErrUnauthenticated)
			return
		}
		f, format, err := parseFilter(c)
		if err != nil {
			api.WriteError(c, evidence.E(evidence.ErrInvalid, "", err.Error(), nil))
			return
		}
		ctx := c.Request.Context()
		// One audit record per query, not per page: the first page records
		// the read and its seq becomes the query id; later pages name it
		// (query=ID) and are checked against it. The id also bounds the
		// query to the log as it was, so paging ends.
		key := filterKey(c.Request.URL.Query())
		queryID, err := openQuery(c, db, p, key)
		if err != nil {
			return // answered
		}
		c.Set(auditedKey, true)
		f.BeforeSeq = queryID
		recs, err := Query(ctx, db, f)
		if err != nil {
			api.WriteError(c, fmt.Errorf("audit: query: %w", err))
			return
		}
		limit := f.Limit
		if limit == 0 {
			limit = DefaultLimit
		}
		complete := len(recs) < min(limit, MaxLimit)
		c.Header("X-Audit-Query", strconv.FormatInt(queryID, 10))
		var next int64
		if len(recs) > 0 {
			next = recs[len(recs)-1].Seq
		}
		if format == "csv" {
			c.Header("Content-Type", "text/csv; charset=utf-8")
			c.Header("Content-Disposition", `attachment; filename="audit.csv"`)
			c.Status(http.StatusOK)
			writeCSV(c.Writer, recs)
			return
		}
		out := make([]recordJSON, len(recs))
		for i := range recs {
			out[i] = toJSON(&recs[i])
		}
		c.JSON(http.StatusOK, Page{Records: out, NextAfter: next, Query: queryID, Complete: complete})
	}
}

// auditedKey marks a request whose audit record the handler wrote, so
// Middleware does not add a second one.
const auditedKey = "opendems.audit.recorded"

// filterKey is the canonical form of a query's filter: every parameter
// but the paging ones, sorted.
func filterKey(q url.Values) string {
	v := url.Values{}
	for k, vals := range q {
		switch k {
		case "after", "query", "limit", "format":
			continue
		}
		v[k] = vals
	}
	return v.Encode()
}

// openQuery records a new query (no query parameter) or checks that the
// named one is the caller's audit_read record for the same filter. It
// returns the query id, or answers the request and returns an error.
func openQuery(c *gin.Context, db Querier, p identity.Principal, key string) (int64, error) {
	ctx := c.Request.Context()
	qs := c.Query("query")
	if qs == "" {
		ev, err := Record(ctx, db, Entry{Component: "audit", EventType: EventAuditRead, Actor: p.Actor(),
			UserID: principalUserID(p), Outcome: OutcomeSuccess, SourceAddr: c.ClientIP(),
			Details: map[string]any{"query": c.Request.URL.RawQuery, "filter": key}})
		if err != nil {
			api.WriteError(c, evidence.E(evidence.ErrUnavailable, "audit: record read", "the audit log cannot record this read", err))
			return 0, err
		}
		return ev.Seq, nil
	}
	bad := func(msg string) (int64, error) {
		api.WriteError(c, evidence.E(evidence.ErrInvalid, "", msg, nil))
		return 0, errors.New(msg)
	}
	id, err := strconv.ParseInt(qs, 10, 64)
	if err != nil || id <= 0 {
		return bad("query: not a query id")
	}
	var found *Event
	err = scan(ctx, db, "WHERE seq = $1", []any{id}, func(e *Event) error { found = e; return nil })
	if err != nil {
		api.WriteError(c, fmt.Errorf("audit: query: %w", err))
		return 0, err
	}
	var d struct {
		Filter *string `json:"filter"`
	}
	if found != nil {
		json.Unmarshal(found.Details, &d)
	}
	if found == nil || found.EventType != EventAuditRead || found.Actor != p.Actor() || d.Filter == nil || *d.Filter != key {
		return bad("query: not one of your audit queries with this filter (start a new query without query=)")
	}
	return id, nil
}

func principalUserID(p identity.Principal) uuid.UUID {
	if p.Kind == identity.KindUser {
		return p.ID
	}
	return uuid.Nil
}

type recordJSON struct {
	Seq        int64     `json:"seq"`
	Time       string    `json:"time"`
	Component  string    `json:"component"`
	EventType  EventType `json:"event_type"`
	Actor      string    `json:"actor"`
	UserID     string    `json:"user_id,omitempty"`
	Outcome    Outcome   `json:"outcome"`
	SourceAddr string    `json:"source_addr"`
	EvidenceID string    `json:"evidence_id,omitempty"`
	Details    jsonRaw   `json:"details"`
	PrevHash   string    `json:"prev_hash"`
	Hash       string    `json:"hash"`
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("{}"), nil
	}
	return j, nil
}

func idString(u uuid.UUID) string {
	if u == uuid.Nil {
		return ""
	}
	return u.String()
}

func toJSON(e *Event) recordJSON {
	return recordJSON{Seq: e.Seq, Time: e.Time.Format(time.RFC3339Nano), Component: e.Component,
		EventType: e.EventType, Actor: e.Actor, UserID: idString(e.UserID), Outcome: e.Outcome,
		SourceAddr: e.SourceAddr, EvidenceID: idString(e.EvidenceID), Details: jsonRaw(e.Details),
		PrevHash: e.PrevHash.String(), Hash: e.Hash.String()}
}

// CSVHeader is the first row of the CSV export.
var CSVHeader = []string{"seq", "time", "component", "event_type", "actor", "user_id", "outcome",
	"source_addr", "evidence_id", "details", "prev_hash", "hash"}

// writeCSV writes records as CSV. Cells that a spreadsheet would run as a
// formula (starting with = + - @ or a tab/CR) get a leading apostrophe:
// the export is opened by people in spreadsheet programs.
func writeCSV(w http.ResponseWriter, recs []Event) {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for i := range recs {
		e := &recs[i]
		row := []string{strconv.FormatInt(e.Seq, 10), e.Time.Format(time.RFC3339Nano), e.Component,
			string(e.EventType), e.Actor, idString(e.UserID), string(e.Outcome), e.SourceAddr,
			idString(e.EvidenceID), string(e.Details), e.PrevHash.String(), e.Hash.String()}
		for j, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				row[j] = "'" + cell
			}
		}
		cw.Write(row)
	}
	cw.Flush()
}

func parseFilter(c *gin.Context) (Filter, string, error) {
	var f Filter
	var err error
	parseTime := func(name string) (time.Time, error) {
		s := c.Query(name)
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return t, errors.New(name + ": want an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		return t, nil
	}
	if f.From, err = parseTime("from"); err != nil {
		return f, "", err
	}
	if f.To, err = parseTime("to"); err != nil {
		return f, "", err
	}
	if u := c.Query("user"); u != "" {
		if !strings.Contains(u, ":") {
			u = "user:" + u
		}
		f.Actor = u
	}
	for name, dst := range map[string]*uuid.UUID{"user_id": &f.UserID, "evidence": &f.EvidenceID} {
		if s := c.Query(name); s != "" {
			if *dst, err = uuid.Parse(s); err != nil {
				return f, "", errors.New(name + ": not a UUID")
			}
		}
	}
	f.EventType = EventType(c.Query("event_type"))
	f.Outcome = Outcome(c.Query("outcome"))
	for name, dst := range map[string]*int64{"after": &f.AfterSeq} {
		if s := c.Query(name); s != "" {
			if *dst, err = strconv.ParseInt(s, 10, 64); err != nil {
				return f, "", errors.New(name + ": not an integer")
			}
		}
	}
	if s := c.Query("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil {
			return f, "", errors.New("limit: not an integer")
		}
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "csv" {
		return f, "", errors.New("format: want json or csv")
	}
	if err := f.Validate(); err != nil {
		return f, "", err
	}
	return f, format, nil
}

// Middleware records one admin_action audit record for every request made
// by an administrator (CJIS: "every action of an administrator"), after
// the handler ran, with method, route, path, status and outcome. Mount it
// after authentication. A failure to record is logged by the returned
// error hook, never hidden: onErr may be nil to ignore it (not
// recommended).
func Middleware(db Querier, onErr func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		p, ok := identity.FromContext(c.Request.Context())
		if !ok || p.Role != identity.RoleAdmin || c.GetBool(auditedKey) {
			return
		}
		status := c.Writer.Status()
		outcome := OutcomeSuccess
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			outcome = OutcomeDenied
		case status >= 400:
			outcome = OutcomeFailure
		}
		_, err := Record(c.Request.Context(), db, Entry{Component: "api", EventType: EventAdminAction,
			Actor: p.Actor(), UserID: principalUserID(p), Outcome: outcome, SourceAddr: c.ClientIP(),
			Details: map[string]any{"method": c.Request.Method, "route": c.FullPath(),
				"path": c.Request.URL.Path, "status": status}})
		if err != nil && onErr != nil {
			onErr(c, err)
		}
	}
}

// Page is one page of an audit query.
type Page struct {
	Records   []recordJSON `json:"records"`
	NextAfter int64        `json:"next_after"`
	Query     int64        `json:"query"`
	Complete  bool         `json:"complete"`
}

// SearchQuery is GET /api/v1/audit's parameters.
type SearchQuery struct {
	From      string `form:"from" doc:"RFC 3339 time"`
	To        string `form:"to" doc:"RFC 3339 time"`
	User      string `form:"user" doc:"an actor such as user:jdoe, or a bare username"`
	UserID    string `form:"user_id"`
	EventType string `form:"event_type"`
	Outcome   string `form:"outcome"`
	Evidence  string `form:"evidence"`
	After     int64  `form:"after" doc:"the seq cursor of the next page (next_after)"`
	Query     int64  `form:"query" doc:"the query id of the first page (X-Audit-Query), for later pages"`
	Limit     int    `form:"limit"`
	Format    string `form:"format" doc:"json (default) or csv"`
}
