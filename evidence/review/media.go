package review

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/storage"
)

// ObjectReader is an io.ReadSeeker over a stored object built on range
// reads: each Read after a Seek opens one range from the new offset to the
// end, so http.ServeContent can answer Range requests (and seeks) without
// the object ever being held in memory or copied to disk.
type ObjectReader struct {
	ctx   context.Context
	store storage.Store
	ref   storage.Ref
	size  int64
	off   int64
	rc    io.ReadCloser
}

// NewObjectReader returns a reader of an object of the given size. ctx
// bounds every range read (the request's context).
func NewObjectReader(ctx context.Context, store storage.Store, ref storage.Ref, size int64) *ObjectReader {
	return &ObjectReader{ctx: ctx, store: store, ref: ref, size: size}
}

// Read reads from the current offset.
func (r *ObjectReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.rc == nil {
		rc, err := r.store.Open(r.ctx, r.ref, r.off, -1)
		if err != nil {
			return 0, err
		}
		r.rc = rc
	}
	n, err := r.rc.Read(p)
	r.off += int64(n)
	if err == io.EOF && r.off < r.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Seek moves the offset; the next Read opens a new range there.
func (r *ObjectReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return r.off, fmt.Errorf("review: seek: bad whence %d", whence)
	}
	if abs < 0 {
		return r.off, fmt.Errorf("review: seek to negative offset %d", abs)
	}
	if abs != r.off && r.rc != nil {
		r.rc.Close()
		r.rc = nil
	}
	r.off = abs
	return abs, nil
}

// Close releases the open range, if any.
func (r *ObjectReader) Close() error {
	if r.rc == nil {
		return nil
	}
	err := r.rc.Close()
	r.rc = nil
	return err
}

var _ io.ReadSeekCloser = (*ObjectReader)(nil)

// handleProxy streams the proxy. Before any byte of a GET leaves, the
// view is in the custody chain (once per session and item): an unaudited
// view must never happen, so a custody failure fails the request.
func (s *Service) handleProxy(c *gin.Context) {
	it, _ := api.ItemOf(c)
	ds, err := s.Derivatives(c.Request.Context(), it.ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	d, ok := ds[KindProxy]
	if !ok {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrConflict, Code: "no_proxy", Msg: noProxyMessage(it)})
		return
	}
	if c.Request.Method == http.MethodGet {
		if _, err := s.RecordView(c.Request.Context(), principal(c), sessionKey(c), it, "proxy"); err != nil {
			api.WriteError(c, err)
			return
		}
	}
	s.serveObject(c, d, "")
}

func noProxyMessage(it *evidence.Item) string {
	switch it.ProxyStatus {
	case "failed":
		return it.ProxyError
	case "processing":
		return "the proxy is being made; try again shortly"
	}
	return "the proxy has not been made yet"
}

// serveObject answers with http.ServeContent (Range, If-Range, 206, 416).
// The ETag is the object's SHA-256, so a resumed range is never stitched
// onto different bytes.
func (s *Service) serveObject(c *gin.Context, d Derivative, fallbackType string) {
	ref := storage.Ref{Namespace: storage.Derivatives, Digest: d.digest}
	r := NewObjectReader(c.Request.Context(), s.d.Storage, ref, d.Size)
	defer r.Close()
	ct := d.ContentType
	if ct == "" {
		ct = fallbackType
	}
	if ct != "" {
		c.Header("Content-Type", ct)
	}
	c.Header("ETag", `"`+d.SHA256+`"`)
	// Cache-Control stays the API's no-store: evidence must not sit in a
	// shared workstation's browser cache, where the next user (or the same
	// browser after logout) could replay it without an authorization check.
	http.ServeContent(c.Writer, c.Request, "", d.CreatedAt, r)
}

func (s *Service) handleDerivative(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		it, _ := api.ItemOf(c)
		ds, err := s.Derivatives(c.Request.Context(), it.ID)
		if err != nil {
			api.WriteError(c, err)
			return
		}
		d, ok := ds[kind]
		if !ok {
			api.WriteError(c, evidence.E(evidence.ErrNotFound, "", "no "+kind+" for this item ("+it.ProxyStatus+")", nil))
			return
		}
		s.serveObject(c, d, "image/jpeg")
	}
}

func (s *Service) handleView(c *gin.Context) {
	it, _ := api.ItemOf(c)
	recorded, err := s.RecordView(c.Request.Context(), principal(c), sessionKey(c), it, "player")
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, ViewRecorded{Recorded: recorded})
}

// sessionKey identifies a playback session without storing a credential:
// the web session's CSRF token is unique per session; token callers (no
// session) count one view per principal and hour.
func sessionKey(c *gin.Context) []byte {
	var src string
	if sess, ok := api.SessionOf(c); ok {
		src = "session:" + sess.CSRFToken
	} else {
		p := principal(c)
		src = "principal:" + string(p.Kind) + ":" + p.ID.String() + ":" + time.Now().UTC().Format("2006010215")
	}
	h := sha256.Sum256([]byte(src))
	return h[:]
}

// RecordView appends a "viewed" custody event unless this session already
// has one for the item; it reports whether it appended.
func (s *Service) RecordView(ctx context.Context, p identity.Principal, key []byte, it *evidence.Item, via string) (bool, error) {
	recorded := false
	err := pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO playback_views (session_key, evidence_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, key, it.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		recorded = true
		_, err = custody.Append(ctx, tx, custody.NewEvent{EvidenceID: it.ID, Actor: p.Actor(), Action: custody.Action("viewed"),
			Details: map[string]any{"via": via, "session": fmt.Sprintf("%x", key[:8])}})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("review: record view of %s: %w", it.ID, err)
	}
	return recorded, nil
}

func (s *Service) handleReview(c *gin.Context) {
	it, _ := api.ItemOf(c)
	r, err := s.Review(c, it)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (s *Service) handleJob(c *gin.Context) {
	it, _ := api.ItemOf(c)
	j, err := s.Job(c.Request.Context(), it.ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, j)
}

// parseCaseParam reads a uuid path parameter; a malformed one is 404,
// like a missing one.
func parseUUIDParam(c *gin.Context, name string) (uuid.UUID, bool) {
	id, err := uuid.Parse(strings.TrimSpace(c.Param(name)))
	if err != nil {
		api.WriteError(c, evidence.NotFound(""))
		return uuid.Nil, false
	}
	return id, true
}
