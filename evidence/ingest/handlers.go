package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/receipt"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

// Routes is the ingest protocol's part of the route table (see the package
// doc), at its absolute paths under /api/v1/ingest. The handlers read the
// principal from the request context (identity.FromContext) and answer
// 401 without one.
func (s *Service) Routes() []api.Route {
	up := func(summary string) api.Access { return api.Access{Action: "evidence:upload", Summary: summary} }
	return []api.Route{
		{Method: "GET", Path: wire.PathReceiptKey, Access: api.Access{Public: true, Summary: "Public key that signs ingest receipts"}, Handler: s.ReceiptKeyHandler, Op: "getReceiptKey", Out: receipt.PublicKey{}},
		{Method: "POST", Path: wire.PathSessions, Access: up("Start (or resume) a resumable upload"), Handler: s.handleCreate, Op: "createUploadSession", In: wire.CreateRequest{}, Out: wire.CreateResponse{}, Also: []int{http.StatusCreated}},
		{Method: "GET", Path: wire.PathSessions + "/:id", Access: up("Where an upload stands (resume point)"), Handler: s.handleGet, Op: "getUploadSession", Out: wire.Session{}},
		{Method: "PUT", Path: wire.PathSessions + "/:id/chunks", Access: up("Upload one chunk at the durable offset"), Handler: s.handleChunk, Op: "putUploadChunk", Query: ChunkParams{}, InContent: "application/octet-stream", Out: wire.ChunkResponse{}},
		{Method: "POST", Path: wire.PathSessions + "/:id/commit", Access: up("Verify and commit; returns the signed receipt"), Handler: s.handleCommit, Op: "commitUpload", Out: wire.CommitResponse{}, Accepted: wire.Session{}},
		{Method: "DELETE", Path: wire.PathSessions + "/:id", Access: up("Abandon an upload"), Handler: s.handleAbort, Op: "abortUpload", Status: http.StatusNoContent},
	}
}

// RegisterRoutes mounts Routes on r without the enforcement point, for
// tests and tools that put their own authentication in front (demsd
// mounts Routes through api.Server.Mount).
func (s *Service) RegisterRoutes(r gin.IRoutes) {
	for _, rt := range s.Routes() {
		r.Handle(rt.Method, rt.Path, rt.Handler)
	}
}

// ReceiptKeyHandler serves the receipt-verification public key.
func (s *Service) ReceiptKeyHandler(c *gin.Context) {
	c.JSON(http.StatusOK, receipt.NewPublicKey(s.pub))
}

// writeError sends err as the protocol's JSON error through the one error
// writer (it knows the protocol's codes and statuses); an error that is
// not the protocol's is logged here with the upload's context.
func (s *Service) writeError(c *gin.Context, err error) {
	var we *wire.Error
	if !errors.As(err, &we) && !errors.Is(err, context.Canceled) {
		s.cfg.Logger.Error("ingest: internal error", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		err = &wire.Error{Code: wire.CodeInternal, Message: "internal error; see the server log"}
	}
	api.WriteError(c, err)
}

func (s *Service) principal(c *gin.Context) (identity.Principal, bool) {
	p, ok := identity.FromContext(c.Request.Context())
	if !ok {
		s.writeError(c, &wire.Error{Code: wire.CodeUnauthenticated, Message: "authentication required"})
	}
	return p, ok
}

func (s *Service) sessionID(c *gin.Context) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		s.writeError(c, &wire.Error{Code: wire.CodeNotFound, Message: "no upload session " + c.Param("id")})
		return id, false
	}
	return id, true
}

func (s *Service) handleCreate(c *gin.Context) {
	p, ok := s.principal(c)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, wire.MaxCreateBody+1))
	if err != nil {
		s.writeError(c, &wire.Error{Code: wire.CodeBadRequest, Message: "reading request: " + err.Error()})
		return
	}
	if len(body) > wire.MaxCreateBody {
		s.writeError(c, &wire.Error{Code: wire.CodeRequestTooLarge, Message: "session request larger than 4 MiB"})
		return
	}
	req, err := wire.ParseCreateRequest(body)
	if err != nil {
		s.writeError(c, &wire.Error{Code: wire.CodeInvalidRequest, Message: err.Error()})
		return
	}
	resp, created, err := s.Create(c.Request.Context(), p, req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, resp)
}

func (s *Service) handleGet(c *gin.Context) {
	p, id, ok := s.sessionCaller(c)
	if !ok {
		return
	}
	v, err := s.Get(c.Request.Context(), p, id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *Service) handleChunk(c *gin.Context) {
	p, id, ok := s.sessionCaller(c)
	if !ok {
		return
	}
	ch, err := wire.ParseChunk(c.Query("offset"), c.Request.ContentLength, c.GetHeader(wire.HeaderChunkSHA256))
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.PutChunk(c.Request.Context(), p, id, ch, c.Request.Body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Service) handleCommit(c *gin.Context) {
	p, id, ok := s.sessionCaller(c)
	if !ok {
		return
	}
	if wire.PrefersAsync(c.GetHeader(wire.HeaderPrefer)) {
		v, done, err := s.CommitAsync(c.Request.Context(), p, id)
		if err != nil {
			s.writeError(c, err)
			return
		}
		c.Header("Preference-Applied", wire.PreferAsync)
		if done && v.Receipt != nil {
			c.JSON(http.StatusOK, wire.CommitResponse{EvidenceID: v.EvidenceID, Receipt: *v.Receipt, Duplicate: v.Duplicate})
			return
		}
		c.Header("Location", wire.PathSessions+"/"+id.String())
		c.JSON(http.StatusAccepted, v)
		return
	}
	resp, err := s.Commit(c.Request.Context(), p, id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Service) handleAbort(c *gin.Context) {
	p, id, ok := s.sessionCaller(c)
	if !ok {
		return
	}
	if err := s.Abort(c.Request.Context(), p, id); err != nil {
		s.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// sessionCaller reads the authenticated caller and the :id session of a
// session route, answering the error itself when either is missing.
func (s *Service) sessionCaller(c *gin.Context) (identity.Principal, uuid.UUID, bool) {
	p, ok := s.principal(c)
	if !ok {
		return p, uuid.Nil, false
	}
	id, ok := s.sessionID(c)
	return p, id, ok
}

// ChunkParams are a chunk PUT's parameters: where it starts, and its hash.
type ChunkParams struct {
	Offset int64  `form:"offset" binding:"required" doc:"the durable offset the chunk starts at"`
	SHA256 string `header:"X-Chunk-SHA256" binding:"required" doc:"hex SHA-256 of the chunk"`
}
