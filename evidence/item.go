package evidence

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Item is one evidence item: an original recording and its metadata.
type Item struct {
	ID          uuid.UUID       `json:"id"`
	SHA256      string          `json:"sha256"`
	Size        int64           `json:"size"`
	State       string          `json:"state"`
	Title       string          `json:"title"`
	Filename    string          `json:"filename"`
	ContentType string          `json:"content_type"`
	SourceKind  string          `json:"source_kind"`
	Category    string          `json:"category"`
	Categories  []string        `json:"categories"`
	Tags        []string        `json:"tags"`
	Flags       []string        `json:"flags"`
	Restricted  string          `json:"restricted,omitempty"`
	RecordedAt  *time.Time      `json:"recorded_at"`
	IngestedAt  time.Time       `json:"ingested_at"`
	OfficerID   string          `json:"officer_id"`
	DeviceID    string          `json:"device_id"`
	CameraName  string          `json:"camera_name"`
	Location    string          `json:"location"`
	Unit        string          `json:"unit"`      // unit slug
	UnitPath    string          `json:"unit_path"` // e.g. patrol.north
	UnitID      uuid.UUID       `json:"-"`
	DockID      *uuid.UUID      `json:"dock_id,omitempty"`
	Metadata    json.RawMessage `json:"metadata"`
	RetainUntil *time.Time      `json:"retain_until"`
	LegalHold   bool            `json:"legal_hold"`
	Flagged     bool            `json:"flagged"`
	ProxyStatus string          `json:"proxy_status"`
	ProxyError  string          `json:"proxy_error,omitempty"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Store reads and updates items in PostgreSQL.
type Store struct{ db *pgxpool.Pool }

// NewStore returns a store over db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const itemCols = `i.id, i.sha256, i.size, i.state, i.title, i.filename, i.content_type, i.source_kind, i.category,
	i.categories, i.tags, i.flags, coalesce(i.restricted, ''), i.recorded_at, i.ingested_at, i.officer_id, i.device_id,
	i.camera_name, i.location, u.slug, u.path, i.unit_id, i.dock_id, i.metadata, i.retain_until, i.legal_hold, i.flagged,
	i.proxy_status, i.proxy_error, i.updated_at`

func scanItem(r pgx.Row) (Item, error) {
	var it Item
	var sum []byte
	var meta []byte
	err := r.Scan(&it.ID, &sum, &it.Size, &it.State, &it.Title, &it.Filename, &it.ContentType, &it.SourceKind, &it.Category,
		&it.Categories, &it.Tags, &it.Flags, &it.Restricted, &it.RecordedAt, &it.IngestedAt, &it.OfficerID, &it.DeviceID,
		&it.CameraName, &it.Location, &it.Unit, &it.UnitPath, &it.UnitID, &it.DockID, &meta, &it.RetainUntil, &it.LegalHold, &it.Flagged,
		&it.ProxyStatus, &it.ProxyError, &it.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return it, ErrNotFound
	}
	it.SHA256 = hex.EncodeToString(sum)
	it.Metadata = meta
	return it, err
}

// Get returns one item.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Item, error) {
	return scanItem(s.db.QueryRow(ctx, `SELECT `+itemCols+` FROM evidence_items i JOIN units u ON u.id = i.unit_id WHERE i.id = $1`, id))
}

// Scope limits what a caller may list; it is derived from policy, never
// from the request. A zero Scope matches nothing.
type Scope struct {
	All        bool     // agency-wide
	UnitPaths  []string // items within any of these unit subtrees
	OfficerIDs []string // items recorded by these officers (own recordings)
	Groups     []string // restricted items of these groups, in any unit
}

// A Scope is a pre-filter: callers still decide each listed item, since a
// policy may deny some items the scope admits (e.g. by category).

// Filter narrows a listing; every field is optional.
type Filter struct {
	OfficerID string
	DeviceID  string
	Unit      string // unit slug or path prefix
	Category  string
	Tag       string
	CaseID    *uuid.UUID
	Flagged   *bool
	From, To  *time.Time // recorded_at range
	Text      string     // free text over title, filename, camera, location, officer, device
	State     string
	Sort      string // recorded_at (default), ingested_at, size, officer_id
	Desc      bool
	Limit     int // default 50, at most 500
	After     string
}

// Page is one page of a listing.
type Page struct {
	Items []Item `json:"items"`
	Total int64  `json:"total"`
	Next  string `json:"next,omitempty"` // cursor for the next page
}

var sortColumns = map[string]string{
	"recorded_at": "i.recorded_at",
	"ingested_at": "i.ingested_at",
	"size":        "i.size",
	"officer_id":  "i.officer_id",
}

// List returns items in scope matching f, one page at a time (offset
// cursor).
func (s *Store) List(ctx context.Context, scope Scope, f Filter) (Page, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }

	// Scope first: it is the authorization boundary.
	if !scope.All {
		var ors []string
		if len(scope.UnitPaths) > 0 {
			// Resolve the unit subtrees to ids first: a filter on
			// i.unit_id can use the (unit_id, recorded_at) indexes, a
			// path prefix on the joined units table cannot.
			ids, err := s.subtreeUnitIDs(ctx, scope.UnitPaths)
			if err != nil {
				return Page{}, fmt.Errorf("evidence list: %w", err)
			}
			if len(ids) > 0 {
				ors = append(ors, "i.unit_id = ANY("+arg(ids)+")")
			}
		}
		if len(scope.OfficerIDs) > 0 {
			ors = append(ors, "i.officer_id = ANY("+arg(scope.OfficerIDs)+")")
		}
		if len(scope.Groups) > 0 {
			// Members of a restricted item's group see it in any unit.
			ors = append(ors, "i.restricted = ANY("+arg(scope.Groups)+")")
		}
		if len(ors) == 0 {
			return Page{Items: []Item{}}, nil
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if len(scope.Groups) > 0 {
		where = append(where, "(i.restricted IS NULL OR i.restricted = ANY("+arg(scope.Groups)+"))")
	} else {
		where = append(where, "i.restricted IS NULL")
	}
	if f.OfficerID != "" {
		where = append(where, "i.officer_id = "+arg(f.OfficerID))
	}
	if f.DeviceID != "" {
		where = append(where, "i.device_id = "+arg(f.DeviceID))
	}
	if f.Unit != "" {
		ids, err := s.unitFilterIDs(ctx, f.Unit)
		if err != nil {
			return Page{}, fmt.Errorf("evidence list: %w", err)
		}
		where = append(where, "i.unit_id = ANY("+arg(ids)+")")
	}
	// Array containment (@>) can use GIN indexes; "= ANY(array)" cannot.
	if f.Category != "" {
		where = append(where, "i.categories @> ARRAY["+arg(f.Category)+"]::text[]")
	}
	if f.Tag != "" {
		where = append(where, "i.tags @> ARRAY["+arg(f.Tag)+"]::text[]")
	}
	if f.Flagged != nil {
		where = append(where, "i.flagged = "+arg(*f.Flagged))
	}
	if f.From != nil {
		where = append(where, "i.recorded_at >= "+arg(*f.From))
	}
	if f.To != nil {
		where = append(where, "i.recorded_at < "+arg(*f.To))
	}
	if f.State != "" {
		where = append(where, "i.state = "+arg(f.State))
	}
	if f.Text != "" {
		a := arg("%" + escapeLike(f.Text) + "%")
		where = append(where, "(i.title ILIKE "+a+" OR i.filename ILIKE "+a+" OR i.camera_name ILIKE "+a+
			" OR i.location ILIKE "+a+" OR i.officer_id ILIKE "+a+" OR i.device_id ILIKE "+a+")")
	}
	if f.CaseID != nil {
		where = append(where, "EXISTS (SELECT 1 FROM case_items ci WHERE ci.evidence_id = i.id AND ci.case_id = "+arg(*f.CaseID)+")")
	}
	col, ok := sortColumns[f.Sort]
	if f.Sort != "" && !ok {
		return Page{}, &FilterError{Field: "sort", Reason: "want one of recorded_at, ingested_at, size, officer_id"}
	}
	if !ok {
		col = "i.recorded_at"
		if f.Sort == "" {
			f.Desc = true
		}
	}
	dir := "ASC"
	if f.Desc {
		dir = "DESC"
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		limit = 500
	}
	offset := 0
	if f.After != "" {
		n, err := strconv.Atoi(f.After)
		if err != nil || n < 0 {
			return Page{}, &FilterError{Field: "after", Reason: "invalid cursor"}
		}
		offset = n
	}
	cond := "TRUE"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	from := ` FROM evidence_items i JOIN units u ON u.id = i.unit_id WHERE ` + cond
	var total int64
	if err := s.db.QueryRow(ctx, `SELECT count(*)`+from, args...).Scan(&total); err != nil {
		return Page{}, fmt.Errorf("evidence list: %w", err)
	}
	q := `SELECT ` + itemCols + from + fmt.Sprintf(` ORDER BY %s %s NULLS LAST, i.id LIMIT %d OFFSET %d`, col, dir, limit, offset)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("evidence list: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) { return scanItem(r) })
	if err != nil {
		return Page{}, fmt.Errorf("evidence list: %w", err)
	}
	p := Page{Items: items, Total: total}
	if items == nil {
		p.Items = []Item{}
	}
	if int64(offset+len(items)) < total {
		p.Next = strconv.Itoa(offset + len(items))
	}
	return p, nil
}

// subtreeUnitIDs returns the ids of the units at or below any of paths.
func (s *Store) subtreeUnitIDs(ctx context.Context, paths []string) ([]uuid.UUID, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM units u WHERE EXISTS (
		SELECT 1 FROM unnest($1::text[]) p WHERE u.path = p OR u.path LIKE p || '.%')`, paths)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// unitFilterIDs resolves a unit filter given as a slug or a path to the
// ids of that unit and its sub-units (none if it names no unit).
func (s *Store) unitFilterIDs(ctx context.Context, unit string) ([]uuid.UUID, error) {
	rows, err := s.db.Query(ctx, `SELECT u.id FROM units u, units root
		WHERE (root.slug = $1 OR root.path = $1) AND (u.path = root.path OR u.path LIKE root.path || '.%')`, unit)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if ids == nil {
		ids = []uuid.UUID{}
	}
	return ids, err
}

// FilterError names a bad listing parameter.
type FilterError struct{ Field, Reason string }

// Unwrap gives the error its kind.
func (e *FilterError) Unwrap() error { return ErrInvalid }

func (e *FilterError) Error() string { return e.Field + ": " + e.Reason }

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// Attributes are what an access decision looks at about a resource (an
// item, a case, later a request or a release): the HTTP kit hands them to
// the policy, which knows nothing of the domain's types.
type Attributes struct {
	Kind       string // "evidence", "case", …
	ID         string
	UnitPath   string
	OfficerID  string
	Categories []string
	Restricted string
}

// Attributes implements the HTTP kit's Loaded: an item as the policy sees it.
func (it *Item) Attributes() Attributes {
	return Attributes{Kind: "evidence", ID: it.ID.String(), UnitPath: it.UnitPath, OfficerID: it.OfficerID,
		Categories: it.Categories, Restricted: it.Restricted}
}
