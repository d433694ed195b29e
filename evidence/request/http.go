package request

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/review"
	"github.com/opendems/opendems/storage"
)

// KindRequest is the resource kind of public access requests in the
// HTTP kit's route table; Store.Loader loads it.
const KindRequest = "request"

// UnitPath is the unit a request is decided in. Requests belong to the
// agency, not to a unit, so policy rows about requests use scope any;
// a unit-scoped row never matches one.
const UnitPath = "agency"

// Attributes implements api.Loaded: a request as the policy sees it.
func (r *Request) Attributes() evidence.Attributes {
	return evidence.Attributes{Kind: KindRequest, ID: r.ID.String(), UnitPath: UnitPath}
}

// Loader loads requests for the enforcement point; knowing a request
// exists takes request:read.
func (s *Store) Loader() api.Loader {
	return api.Loader{View: "request:read", Load: func(ctx context.Context, id uuid.UUID) (api.Loaded, error) {
		r, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return &r, nil
	}}
}

// TrackBox is a box drawn on a frame, in source pixels.
type TrackBox struct {
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// HTTP is the request floor's part of the route table.
type HTTP struct {
	Store   *Store
	Queue   Queue         // river client; nil: job routes answer 503
	Storage storage.Store // job outputs
	// Waveforms serves items' audio envelopes to the editor (nil: the
	// waveform route answers 503 and the clip view names no waveform_url).
	Waveforms WaveformSource
}

// WaveformSource returns the peak envelope of an item's audio as JSON
// ({"rate", "duration", "peaks": [min0, max0, ...]}, evidence/jobs
// Waveforms), computed once per proxy and cached.
type WaveformSource interface {
	Waveform(ctx context.Context, item uuid.UUID) ([]byte, error)
}

// Routes declares every route of the request floor: the staff API
// (request:read, request:edit, redaction:create, decided on the loaded
// request) and the public intake and status API (no account, rate
// limited per address).
func (h *HTTP) Routes() []api.Route {
	on := func(action, summary string) api.Access {
		return api.Access{Action: action, Resource: KindRequest, Summary: summary}
	}
	const base = "/api/v1/requests"
	const clip = base + "/:id/clips/:clip"
	return []api.Route{
		{Method: "GET", Path: base, Access: api.Access{Action: "request:read", Summary: "Dashboard: requests sorted by due date (overdue first); ?open=true, ?state=, ?assignee="}, Handler: h.list, Op: "listRequests", Query: ListQuery{}, Out: RequestList{}},
		{Method: "POST", Path: base, Access: api.Access{Action: "request:edit", Summary: "Staff intake of a public access request; returns it with its public status code (shown once)"}, Handler: h.create, Op: "createRequest", In: Intake{}, Out: CreatedRequest{}, Status: http.StatusCreated},
		{Method: "GET", Path: "/api/v1/request-exemptions", Access: api.Access{Action: "request:read", Summary: "Exemption codes staff may cite, and the statutory clock in force"}, Handler: h.exemptions, Op: "listRequestExemptions", Out: ExemptionsAnswer{}},
		{Method: "GET", Path: base + "/:id", Access: on("request:read", "One request with its clock, clips and withheld items"), Handler: h.get, Op: "getRequest", Out: RequestView{}},
		{Method: "GET", Path: base + "/:id/timeline", Access: on("request:read", "The request's timeline (append-only)"), Handler: h.timeline, Op: "getRequestTimeline", Out: Timeline{}},
		{Method: "POST", Path: base + "/:id/transition", Access: on("request:edit", "Move the request to another state; 409 names the allowed ones"), Handler: h.transition, Op: "transitionRequest", In: TransitionInput{}, Out: RequestAnswer{}},
		{Method: "POST", Path: base + "/:id/pause", Access: on("request:edit", "Pause the clock while awaiting the requester or a fee (reason required)"), Handler: h.pause, Op: "pauseRequest", In: PauseBody{}, Out: RequestAnswer{}},
		{Method: "POST", Path: base + "/:id/resume", Access: on("request:edit", "Resume the clock (reason required)"), Handler: h.resume, Op: "resumeRequest", In: ReasonBody{}, Out: RequestAnswer{}},
		{Method: "POST", Path: base + "/:id/extend", Access: on("request:edit", "Extend the clock within the jurisdiction's limits (reason required)"), Handler: h.extend, Op: "extendRequest", In: ExtendBody{}, Out: RequestAnswer{}},
		{Method: "POST", Path: base + "/:id/clips", Access: on("request:edit", "Link a clip of an evidence item (the item is decided for evidence:view; custody: request_clip_linked)"), Handler: h.addClip, Op: "addRequestClip", In: ClipInput{}, Out: ClipAnswer{}, Status: http.StatusCreated},
		{Method: "GET", Path: clip, Access: on("request:read", "A clip for the redaction editor: item, in/out, proxy and sprite URLs, current spec version and document, proposals, jobs, outputs"), Handler: h.getClip, Op: "getRequestClip", Out: ClipView{}},
		{Method: "DELETE", Path: clip, Access: on("request:edit", "Remove a clip (reason required; custody: request_clip_removed)"), Handler: h.removeClip, Op: "removeRequestClip", In: ReasonBody{}, Out: ClipAnswer{}},
		{Method: "GET", Path: clip + "/waveform", Access: on("request:read", "The clip's item's audio envelope for the editor's mute lane (peaks per bucket, computed on the server once per proxy)"), Handler: h.waveform, Op: "getClipWaveform", Out: Waveform{}},
		{Method: "GET", Path: clip + "/spec", Access: on("request:read", "A spec version of the clip (?version=N; latest when absent)"), Handler: h.getSpec, Op: "getClipSpec", Query: SpecQuery{}, Out: SpecVersion{}},
		{Method: "GET", Path: clip + "/spec/versions", Access: on("request:read", "The clip's spec versions, newest first"), Handler: h.specVersions, Op: "listClipSpecVersions", Out: SpecVersionList{}},
		{Method: "PUT", Path: clip + "/spec", Access: on("redaction:create", "Save a new spec version: {base_version, spec}; 409 when someone saved since"), Handler: h.saveSpec, Op: "saveClipSpec", In: SaveSpecBody{}, Out: SpecVersion{}, Status: http.StatusCreated},
		{Method: "POST", Path: clip + "/track", Access: on("redaction:create", "Track a box drawn on one frame forward and backward through the clip: {time, box} → 202 with a track job; its output holds the region keyframes"), Handler: h.track, Op: "trackBox", In: TrackBody{}, Out: JobAnswer{}, Status: http.StatusAccepted},
		{Method: "GET", Path: clip + "/jobs", Access: on("request:read", "Redaction jobs of the clip with progress"), Handler: h.jobs, Op: "listClipJobs", Out: JobList{}},
		{Method: "POST", Path: clip + "/jobs", Access: on("redaction:create", "Start a detect, preview or render job: {kind, spec_version}"), Handler: h.startJob, Op: "startClipJob", In: JobBody{}, Out: JobAnswer{}, Status: http.StatusAccepted},
		{Method: "GET", Path: clip + "/jobs/:job", Access: on("request:read", "One redaction job with its progress and outputs (poll it; a track job's output carries the keyframes in details.result)"), Handler: h.job, Op: "getClipJob", Out: JobView{}},
		{Method: "POST", Path: clip + "/jobs/:job/cancel", Access: on("redaction:create", "Cancel a redaction job"), Handler: h.cancelJob, Op: "cancelClipJob", Out: JobAnswer{}},
		{Method: "GET", Path: clip + "/outputs", Access: on("request:read", "Outputs of the clip's jobs with their SHA-256, source SHA-256 and spec version"), Handler: h.outputs, Op: "listClipOutputs", Out: OutputList{}},
		{Method: "GET", Path: clip + "/outputs/:output", Access: on("request:read", "Download one output (verified against its SHA-256 while streaming; audited, and in custody); previews and renders also answer Range requests for playback"), Handler: h.downloadOutput, Op: "downloadClipOutput", OutContent: "video/mp4, application/json", Also: []int{http.StatusPartialContent}},
		{Method: "POST", Path: base + "/:id/withheld", Access: on("request:edit", "Withhold an item with exemption codes"), Handler: h.withhold, Op: "withholdItem", In: WithholdInput{}, Out: WithheldAnswer{}, Status: http.StatusCreated},
		{Method: "DELETE", Path: base + "/:id/withheld/:withheld", Access: on("request:edit", "End a withholding (reason required)"), Handler: h.endWithhold, Op: "endWithholding", In: ReasonBody{}, Status: http.StatusNoContent},

		{Method: "POST", Path: "/api/v1/public/requests", Access: api.Access{Public: true, MaxBody: 64 << 10, Summary: "Public intake (no account; rate limited per address): returns the tracking number and status code"}, Handler: h.publicCreate, Op: "publicCreateRequest", In: PublicIntake{}, Out: PublicReceipt{}, Status: http.StatusCreated},
		{Method: "POST", Path: "/api/v1/public/requests/status", Access: api.Access{Public: true, MaxBody: 4 << 10, Summary: "Public status: {tracking_number, status_code} → state and due date only (rate limited)"}, Handler: h.publicStatus, Op: "publicRequestStatus", In: StatusBody{}, Out: PublicStatus{}},
	}
}

// requestOf is the request the enforcement point loaded and authorized.
func requestOf(c *gin.Context) *Request {
	r, _ := api.ResourceOf[*Request](c, KindRequest)
	return r
}

// actorOf is the caller as this package records it.
func actorOf(c *gin.Context) Actor {
	p, _ := api.Principal(c)
	return Actor{Name: p.Actor(), UserID: p.ID, Addr: c.ClientIP()}
}

// fail writes err, giving the kit's error writer the structured details
// the editor shows (bad fields, allowed states, who saved a newer spec).
func fail(c *gin.Context, err error) {
	api.WriteError(c, httpError(err))
}

func httpError(err error) error {
	var ie *InvalidError
	var te *TransitionError
	var se *StaleSpecError
	switch {
	case errors.As(err, &ie):
		kind := evidence.ErrInvalid
		if ie.TooLarge {
			kind = evidence.ErrTooLarge
		}
		return &evidence.Error{Kind: kind, Op: ie.Op, Msg: ie.Error(), Detail: map[string]any{"fields": ie.Fields}, Err: err}
	case errors.As(err, &te):
		return &evidence.Error{Kind: evidence.ErrConflict, Code: "transition_not_allowed", Msg: te.Error(),
			Detail: map[string]any{"state": te.From, "allowed": te.Allowed}, Err: err}
	case errors.As(err, &se):
		return &evidence.Error{Kind: evidence.ErrConflict, Code: "stale_spec", Msg: se.Error(),
			Detail: map[string]any{"current_version": se.Current, "edited_by": se.Author, "edited_at": se.At}, Err: err}
	case errors.Is(err, ErrTooLarge):
		return &evidence.Error{Kind: evidence.ErrTooLarge, Msg: err.Error(), Err: err}
	}
	return err
}

func (h *HTTP) list(c *gin.Context) {
	f := ListFilter{Open: c.Query("open") == "true" || c.Query("open") == "1", Assignee: c.Query("assignee")}
	for _, s := range c.QueryArray("state") {
		for _, p := range strings.Split(s, ",") {
			if p != "" {
				f.States = append(f.States, State(p))
			}
		}
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			fail(c, evidence.Invalid("limit", "want a positive number"))
			return
		}
		f.Limit = n
	}
	list, err := h.Store.List(c.Request.Context(), f)
	if err != nil {
		fail(c, err)
		return
	}
	who := actorOf(c)
	h.Store.AuditView(c.Request.Context(), who, "dashboard", uuid.Nil, uuid.Nil, map[string]any{"count": len(list)})
	c.JSON(http.StatusOK, RequestList{Requests: list})
}

func (h *HTTP) create(c *gin.Context) {
	var in Intake
	if !api.Bind(c, &in) {
		return
	}
	r, code, err := h.Store.Create(c.Request.Context(), actorOf(c), in)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, CreatedRequest{Request: r, StatusCode: code})
}

func (h *HTTP) exemptions(c *gin.Context) {
	r := h.Store.settings.Rules
	c.JSON(http.StatusOK, ExemptionsAnswer{Exemptions: h.Store.settings.Exemptions.List(), Clock: ClockRules{
		Jurisdiction: r.Jurisdiction, Days: r.Days, ResponseDays: r.ResponseDays, TimeZone: r.Location.String(),
		MaxExtensions: r.MaxExtensions, MaxExtensionDays: r.MaxExtensionDays, PauseOn: r.PauseOn}})
}

// RequestView is a request with what its page shows.
type RequestView struct {
	Request  *Request   `json:"request"`
	Clips    []Clip     `json:"clips"`
	Withheld []Withheld `json:"withheld"`
}

func (h *HTTP) get(c *gin.Context) {
	r := requestOf(c)
	ctx := c.Request.Context()
	clips, err := h.Store.Clips(ctx, r.ID)
	if err != nil {
		fail(c, err)
		return
	}
	withheld, err := h.Store.WithheldItems(ctx, r.ID)
	if err != nil {
		fail(c, err)
		return
	}
	if err := h.Store.AuditView(ctx, actorOf(c), "request", r.ID, uuid.Nil, nil); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, RequestView{Request: r, Clips: clips, Withheld: withheld})
}

func (h *HTTP) timeline(c *gin.Context) {
	r := requestOf(c)
	tl, err := h.Store.Timeline(c.Request.Context(), r.ID)
	if err != nil {
		fail(c, err)
		return
	}
	h.Store.AuditView(c.Request.Context(), actorOf(c), "timeline", r.ID, uuid.Nil, nil)
	c.JSON(http.StatusOK, Timeline{Events: tl})
}

// changeRequest is the shape of every route that changes the loaded
// request's state or clock: bind the body, apply the change as the caller,
// answer with the request as it now stands.
func changeRequest[In any](apply func(ctx context.Context, id uuid.UUID, who Actor, in In) (Request, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in In
		if !api.Bind(c, &in) {
			return
		}
		r, err := apply(c.Request.Context(), requestOf(c).ID, actorOf(c), in)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, RequestAnswer{Request: r})
	}
}

func (h *HTTP) transition(c *gin.Context) { changeRequest(h.Store.Transition)(c) }

// PauseBody pauses the clock.
type PauseBody struct {
	Kind   PauseKind `json:"kind"`
	Reason string    `json:"reason"`
}

func (h *HTTP) pause(c *gin.Context) {
	changeRequest(func(ctx context.Context, id uuid.UUID, who Actor, in PauseBody) (Request, error) {
		return h.Store.Pause(ctx, id, who, in.Kind, in.Reason)
	})(c)
}

// ReasonBody gives the reason of a change.
type ReasonBody struct {
	Reason string `json:"reason"`
}

func (h *HTTP) resume(c *gin.Context) {
	changeRequest(func(ctx context.Context, id uuid.UUID, who Actor, in ReasonBody) (Request, error) {
		return h.Store.Resume(ctx, id, who, in.Reason)
	})(c)
}

// ExtendBody extends the clock.
type ExtendBody struct {
	Days   int    `json:"days"`
	Reason string `json:"reason"`
}

func (h *HTTP) extend(c *gin.Context) {
	changeRequest(func(ctx context.Context, id uuid.UUID, who Actor, in ExtendBody) (Request, error) {
		return h.Store.Extend(ctx, id, who, in.Days, in.Reason)
	})(c)
}

func (h *HTTP) addClip(c *gin.Context) {
	var in ClipInput
	if !api.Bind(c, &in) {
		return
	}
	if in.EvidenceID == uuid.Nil {
		fail(c, evidence.Invalid("evidence_id", "required"))
		return
	}
	// The caller must be allowed to see the footage they link.
	if _, ok := api.Load[*evidence.Item](c, api.KindItem, in.EvidenceID, "evidence:view"); !ok {
		return
	}
	clip, err := h.Store.AddClip(c.Request.Context(), requestOf(c).ID, actorOf(c), in)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, ClipAnswer{Clip: clip})
}

// clipOf returns the path's clip, which must belong to the path's request.
func (h *HTTP) clipOf(c *gin.Context) (Clip, bool) {
	id, err := uuid.Parse(c.Param("clip"))
	if err != nil {
		fail(c, evidence.NotFound("clip"))
		return Clip{}, false
	}
	clip, err := h.Store.Clip(c.Request.Context(), id)
	if err != nil || clip.RequestID != requestOf(c).ID {
		fail(c, evidence.NotFound("clip"))
		return Clip{}, false
	}
	return clip, true
}

// ClipView is what the redaction editor opens (the contract is written
// down in evidence/web's package documentation): the clip flat, with the
// media facts the editor's frame model needs, the current spec document,
// and the latest preview; then the request floor's details.
type ClipView struct {
	ID        uuid.UUID `json:"id"`
	RequestID uuid.UUID `json:"request_id"`
	ItemID    uuid.UUID `json:"item_id"`
	In        float64   `json:"in"`  // seconds of the source
	Out       float64   `json:"out"` // seconds of the source
	ProxyURL  string    `json:"proxy_url"`
	SpriteURL string    `json:"sprite_url"`
	// WaveformURL is the audio envelope (WaveformSource), when served.
	WaveformURL string `json:"waveform_url,omitempty"`
	ReviewURL   string `json:"review_url"`
	// Sprite is the sprite geometry stored with the item's thumbnail strip.
	Sprite json.RawMessage `json:"sprite,omitempty"`
	// FPS and FrameCount describe the proxy; Width and Height the upright
	// source picture (spec coordinates). Absent until the item is probed.
	FPS        *Rational `json:"fps,omitempty"`
	FrameCount int64     `json:"frame_count,omitempty"`
	Width      int       `json:"width,omitempty"`
	Height     int       `json:"height,omitempty"`
	// SpecVersion is the latest saved version (0: none) and Spec its
	// document (null for none); SpecInfo says who saved it when.
	SpecVersion int             `json:"spec_version"`
	Spec        json.RawMessage `json:"spec"`
	SpecInfo    *SpecVersion    `json:"spec_info,omitempty"`
	// Preview is the latest preview render.
	Preview *PreviewRef `json:"preview,omitempty"`
	// Proposals is the latest detection output's spec (regions with
	// origin auto), for the editor to accept or reject one by one.
	Proposals  json.RawMessage `json:"proposals,omitempty"`
	Clip       Clip            `json:"clip"`
	Request    ClipRequest     `json:"request"`
	Jobs       []Job           `json:"jobs"`
	Outputs    []JobOutput     `json:"outputs"`
	Exemptions []Exemption     `json:"exemptions"`
}

// Rational is a frame rate as num/den.
type Rational struct {
	Num int `json:"num"`
	Den int `json:"den"`
}

// PreviewRef points at a preview render.
type PreviewRef struct {
	URL         string `json:"url"`
	SpecVersion int    `json:"spec_version"`
}

// ClipRequest names the clip's request.
type ClipRequest struct {
	ID             uuid.UUID `json:"id"`
	TrackingNumber string    `json:"tracking_number"`
	State          State     `json:"state"`
}

// fpsOf turns an average frame rate into a rational, recognising the NTSC
// rates.
func fpsOf(f float64) *Rational {
	if f <= 0 {
		return nil
	}
	for _, n := range []int{24000, 30000, 60000} {
		if math.Abs(f-float64(n)/1001) < 0.005 {
			return &Rational{Num: n, Den: 1001}
		}
	}
	if r := math.Round(f); math.Abs(f-r) < 0.01 {
		return &Rational{Num: int(r), Den: 1}
	}
	return &Rational{Num: int(math.Round(f * 1000)), Den: 1000}
}

// clipMedia fills the media facts of a clip view from the item's probe and
// its proxy and sprite derivatives.
func (s *Store) clipMedia(ctx context.Context, v *ClipView) error {
	var probe []byte
	if err := s.db.QueryRow(ctx, `SELECT coalesce(metadata -> 'probe', 'null'::jsonb) FROM evidence_items WHERE id = $1`, v.ItemID).Scan(&probe); err != nil {
		return fmt.Errorf("clip media: %w", err)
	}
	var p struct {
		Duration float64 `json:"duration"`
		Rotation int     `json:"rotation"`
		Streams  []struct {
			Kind            string  `json:"kind"`
			Width           int     `json:"width"`
			Height          int     `json:"height"`
			FrameRate       float64 `json:"frame_rate"`
			AttachedPicture bool    `json:"attached_picture"`
		} `json:"streams"`
	}
	if json.Unmarshal(probe, &p) == nil {
		for _, st := range p.Streams {
			if st.Kind == "video" && !st.AttachedPicture && st.Width > 0 {
				v.Width, v.Height = st.Width, st.Height
				if p.Rotation == 90 || p.Rotation == 270 {
					v.Width, v.Height = st.Height, st.Width
				}
				v.FPS = fpsOf(st.FrameRate)
				break
			}
		}
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT ON (kind) kind, details FROM evidence_derivatives
		WHERE evidence_id = $1 AND kind IN ('proxy', 'thumbstrip') ORDER BY kind, created_at DESC`, v.ItemID)
	if err != nil {
		return fmt.Errorf("clip media: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var details []byte
		if err := rows.Scan(&kind, &details); err != nil {
			return fmt.Errorf("clip media: %w", err)
		}
		var d struct {
			Proxy *struct {
				VideoFrames int64   `json:"video_frames"`
				Duration    float64 `json:"duration"`
			} `json:"proxy"`
			Sprite json.RawMessage `json:"sprite"`
		}
		if json.Unmarshal(details, &d) != nil {
			continue
		}
		switch {
		case kind == "proxy" && d.Proxy != nil:
			v.FrameCount = d.Proxy.VideoFrames
			if v.FPS == nil && d.Proxy.Duration > 0 && d.Proxy.VideoFrames > 0 {
				v.FPS = fpsOf(float64(d.Proxy.VideoFrames) / d.Proxy.Duration)
			}
		case kind == "thumbstrip" && len(d.Sprite) > 0:
			v.Sprite = d.Sprite
		}
	}
	return rows.Err()
}

func (h *HTTP) getClip(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	r := requestOf(c)
	item := clip.EvidenceID.String()
	clipURL := "/api/v1/requests/" + r.ID.String() + "/clips/" + clip.ID.String()
	v := ClipView{ID: clip.ID, RequestID: r.ID, ItemID: clip.EvidenceID, In: float64(clip.InMs) / 1000, Out: float64(clip.OutMs) / 1000,
		ProxyURL: "/api/v1/evidence/" + item + "/proxy", SpriteURL: "/api/v1/evidence/" + item + "/sprite",
		ReviewURL: "/api/v1/evidence/" + item + "/review", SpecVersion: clip.SpecVersion, Spec: json.RawMessage("null"),
		Clip: clip, Request: ClipRequest{ID: r.ID, TrackingNumber: r.TrackingNumber, State: r.State},
		Exemptions: h.Store.settings.Exemptions.List()}
	if h.Waveforms != nil {
		v.WaveformURL = clipURL + "/waveform"
	}
	if err := h.Store.clipMedia(ctx, &v); err != nil {
		fail(c, err)
		return
	}
	if clip.SpecVersion > 0 {
		sv, err := h.Store.Spec(ctx, clip.ID, 0)
		if err != nil {
			fail(c, err)
			return
		}
		v.Spec, v.SpecVersion = sv.Spec, sv.Version
		sv.Spec = nil
		v.SpecInfo = &sv
	}
	var err error
	if v.Jobs, err = h.Store.Jobs(ctx, clip.ID); err != nil {
		fail(c, err)
		return
	}
	if v.Outputs, err = h.Store.JobOutputs(ctx, clip.ID); err != nil {
		fail(c, err)
		return
	}
	for _, o := range v.Outputs { // newest first
		if o.Kind == OutputPreview && v.Preview == nil {
			v.Preview = &PreviewRef{URL: clipURL + "/outputs/" + o.ID.String(), SpecVersion: o.SpecVersion}
		}
		if o.Kind == OutputDetect && v.Proposals == nil && h.Storage != nil {
			b, err := h.readOutput(ctx, o, 16<<20)
			if err != nil {
				fail(c, err)
				return
			}
			v.Proposals = b
		}
	}
	if err := h.Store.AuditView(ctx, actorOf(c), "clip", r.ID, clip.EvidenceID, map[string]any{"clip_id": clip.ID.String()}); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// waveform answers the envelope of the clip's item (the whole item: the
// editor draws the clip's window of it). It is not footage: amplitude
// peaks per bucket cannot be played back or made intelligible.
func (h *HTTP) waveform(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	if h.Waveforms == nil {
		api.WriteError(c, &evidence.Error{Kind: evidence.ErrUnavailable, Code: "unavailable", Msg: "waveforms are not served by this server"})
		return
	}
	b, err := h.Waveforms.Waveform(c.Request.Context(), clip.EvidenceID)
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", b)
}

func (h *HTTP) removeClip(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	var in ReasonBody
	if !api.Bind(c, &in) {
		return
	}
	out, err := h.Store.RemoveClip(c.Request.Context(), clip.RequestID, clip.ID, actorOf(c), in.Reason)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ClipAnswer{Clip: out})
}

func (h *HTTP) getSpec(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	version := 0
	if v := c.Query("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(c, evidence.Invalid("version", "want a version number from 1"))
			return
		}
		version = n
	}
	sv, err := h.Store.Spec(c.Request.Context(), clip.ID, version)
	if err != nil {
		fail(c, err)
		return
	}
	h.Store.AuditView(c.Request.Context(), actorOf(c), "spec", clip.RequestID, clip.EvidenceID, map[string]any{"clip_id": clip.ID.String(), "version": sv.Version})
	c.JSON(http.StatusOK, sv)
}

func (h *HTTP) specVersions(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	list, err := h.Store.SpecVersions(c.Request.Context(), clip.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, SpecVersionList{Versions: list})
}

// SaveSpecBody is PUT .../spec.
type SaveSpecBody struct {
	BaseVersion *int            `json:"base_version"`
	Spec        json.RawMessage `json:"spec"`
}

func (h *HTTP) saveSpec(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	var in SaveSpecBody
	if !api.Bind(c, &in) {
		return
	}
	if in.BaseVersion == nil {
		fail(c, evidence.Invalid("base_version", "required: the version your edit started from (0 for the first)"))
		return
	}
	sv, err := h.Store.SaveSpec(c.Request.Context(), clip.ID, actorOf(c), *in.BaseVersion, in.Spec, OriginEditor)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, sv)
}

// TrackBody is a box drawn at a time of the clip.
type TrackBody struct {
	Time float64  `json:"time"`
	Box  TrackBox `json:"box"`
}

func (h *HTTP) track(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	var in TrackBody
	if !api.Bind(c, &in) {
		return
	}
	if !h.queueAvailable(c, "track") {
		return
	}
	j, err := h.Store.EnqueueTrack(c.Request.Context(), h.Queue, clip.ID, actorOf(c), in.Time, in.Box)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, JobAnswer{Job: j})
}

// job answers one job and the outputs it produced so far, for polling.
func (h *HTTP) job(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	j, ok := h.clipJobOf(c, clip.ID)
	if !ok {
		return
	}
	outs, err := h.Store.JobOutputs(c.Request.Context(), clip.ID)
	if err != nil {
		fail(c, err)
		return
	}
	mine := []JobOutput{}
	for _, o := range outs {
		if o.JobID == j.ID {
			mine = append(mine, o)
		}
	}
	c.JSON(http.StatusOK, JobView{Job: j, Outputs: mine})
}

// clipJobOf answers the job named by the path's :job if it belongs to the
// clip; a malformed id or another clip's job is 404, like a missing one.
func (h *HTTP) clipJobOf(c *gin.Context, clipID uuid.UUID) (Job, bool) {
	id, err := strconv.ParseInt(c.Param("job"), 10, 64)
	if err != nil {
		fail(c, evidence.NotFound("job"))
		return Job{}, false
	}
	j, err := h.Store.Job(c.Request.Context(), id)
	if err != nil || j.ClipID != clipID {
		fail(c, evidence.NotFound("job"))
		return Job{}, false
	}
	return j, true
}

// queueAvailable answers 503 for op on a server started without a job queue.
func (h *HTTP) queueAvailable(c *gin.Context, op string) bool {
	if h.Queue == nil {
		fail(c, evidence.E(evidence.ErrUnavailable, op, "the job queue is not available on this server", nil))
		return false
	}
	return true
}

func (h *HTTP) jobs(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	list, err := h.Store.Jobs(c.Request.Context(), clip.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, JobList{Jobs: list})
}

// JobBody starts a redaction job.
type JobBody struct {
	Kind        string `json:"kind"`
	SpecVersion int    `json:"spec_version"`
}

func (h *HTTP) startJob(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	var in JobBody
	if !api.Bind(c, &in) {
		return
	}
	if !h.queueAvailable(c, "redaction job") {
		return
	}
	j, err := h.Store.EnqueueJob(c.Request.Context(), h.Queue, clip.ID, actorOf(c), in.Kind, in.SpecVersion)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, JobAnswer{Job: j})
}

func (h *HTTP) cancelJob(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	j, ok := h.clipJobOf(c, clip.ID)
	if !ok {
		return
	}
	if !h.queueAvailable(c, "redaction job") {
		return
	}
	j, err := h.Store.CancelJob(c.Request.Context(), h.Queue, j.ID, actorOf(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, JobAnswer{Job: j})
}

func (h *HTTP) outputs(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	list, err := h.Store.JobOutputs(c.Request.Context(), clip.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, OutputList{Outputs: list})
}

func outputRef(o JobOutput) (storage.Ref, error) {
	var d storage.Digest
	raw, err := hex.DecodeString(o.SHA256)
	if err != nil || len(raw) != len(d) {
		return storage.Ref{}, fmt.Errorf("output %s: bad sha256", o.ID)
	}
	copy(d[:], raw)
	return storage.Ref{Namespace: storage.Derivatives, Digest: d}, nil
}

// readOutput reads a small output (JSON) verified against its SHA-256.
func (h *HTTP) readOutput(ctx context.Context, o JobOutput, limit int64) ([]byte, error) {
	if o.Size > limit {
		return nil, fmt.Errorf("output %s: %d bytes is more than %d", o.ID, o.Size, limit)
	}
	ref, err := outputRef(o)
	if err != nil {
		return nil, err
	}
	rc, err := h.Storage.Open(ctx, ref, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(storage.NewHashingReader(rc, ref.Digest, o.Size))
}

func (h *HTTP) downloadOutput(c *gin.Context) {
	clip, ok := h.clipOf(c)
	if !ok {
		return
	}
	id, err := uuid.Parse(c.Param("output"))
	if err != nil {
		fail(c, evidence.NotFound("output"))
		return
	}
	ctx := c.Request.Context()
	outs, err := h.Store.JobOutputs(ctx, clip.ID)
	if err != nil {
		fail(c, err)
		return
	}
	var o *JobOutput
	for i := range outs {
		if outs[i].ID == id {
			o = &outs[i]
		}
	}
	if o == nil || h.Storage == nil {
		fail(c, evidence.NotFound("output"))
		return
	}
	ref, err := outputRef(*o)
	if err != nil {
		fail(c, err)
		return
	}
	who := actorOf(c)
	if rng := c.GetHeader("Range"); rng != "" && (o.Kind == OutputPreview || o.Kind == OutputRender) {
		// A player seeking in a preview or render (the editor's side by
		// side view): ranges, recorded once per playback, when it starts
		// from the beginning. Partial reads cannot be hash-checked; a full
		// download (no Range) is.
		if strings.HasPrefix(rng, "bytes=0-") {
			if err := h.Store.RecordDownload(ctx, who, clip, *o); err != nil {
				fail(c, err)
				return
			}
		}
		or := review.NewObjectReader(ctx, h.Storage, ref, o.Size)
		defer or.Close()
		c.Header("Content-Type", "video/mp4")
		c.Header("X-Content-SHA256", o.SHA256)
		http.ServeContent(c.Writer, c.Request, "", o.CreatedAt, or)
		return
	}
	rc, err := h.Storage.Open(ctx, ref, 0, -1)
	if err != nil {
		fail(c, err)
		return
	}
	defer rc.Close()
	// Recorded before the bytes leave: a download that fails half way was
	// still attempted.
	if err := h.Store.RecordDownload(ctx, who, clip, *o); err != nil {
		fail(c, err)
		return
	}
	ct := "application/json"
	ext := "json"
	if o.Kind == OutputPreview || o.Kind == OutputRender {
		ct, ext = "video/mp4", "mp4"
	}
	c.Header("Content-Type", ct)
	c.Header("Content-Length", strconv.FormatInt(o.Size, 10))
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-v%d.%s"`, o.Kind, clip.ID.String()[:8], o.SpecVersion, ext))
	c.Header("X-Content-SHA256", o.SHA256)
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, storage.NewHashingReader(rc, ref.Digest, o.Size)); err != nil {
		// Headers are gone: abort the connection so the client sees a
		// failed download, never a complete-looking wrong file.
		panic(http.ErrAbortHandler)
	}
}

// RecordDownload audits a download of a job output and, for a render,
// records it in the source item's chain of custody.
func (s *Store) RecordDownload(ctx context.Context, who Actor, clip Clip, o JobOutput) error {
	details := map[string]any{"clip_id": clip.ID.String(), "output_id": o.ID.String(), "kind": o.Kind,
		"sha256": o.SHA256, "spec_version": o.SpecVersion}
	if o.Kind == OutputRender || o.Kind == OutputPreview {
		if _, err := custody.NewService(s.db, nil, nil, s.opt.Logger).Append(ctx, custody.NewEvent{EvidenceID: clip.EvidenceID,
			Actor: who.Name, Action: custody.ActionRequestOutputDownloaded, Details: details}); err != nil {
			return fmt.Errorf("record download: %w", err)
		}
	}
	return s.AuditView(ctx, who, "output_download", clip.RequestID, clip.EvidenceID, details)
}

func (h *HTTP) withhold(c *gin.Context) {
	var in WithholdInput
	if !api.Bind(c, &in) {
		return
	}
	if in.EvidenceID == uuid.Nil {
		fail(c, evidence.Invalid("evidence_id", "required"))
		return
	}
	if _, ok := api.Load[*evidence.Item](c, api.KindItem, in.EvidenceID, "evidence:view"); !ok {
		return
	}
	w, err := h.Store.Withhold(c.Request.Context(), requestOf(c).ID, actorOf(c), in)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, WithheldAnswer{Withheld: w})
}

func (h *HTTP) endWithhold(c *gin.Context) {
	id, err := uuid.Parse(c.Param("withheld"))
	if err != nil {
		fail(c, evidence.NotFound("withholding"))
		return
	}
	var in ReasonBody
	if !api.Bind(c, &in) {
		return
	}
	if err := h.Store.EndWithhold(c.Request.Context(), requestOf(c).ID, id, actorOf(c), in.Reason); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// PublicIntake is what the public intake form sends; the channel is
// always web and the receipt time is the server's.
type PublicIntake struct {
	RequesterName string        `json:"requester_name"`
	RequesterType RequesterType `json:"requester_type"`
	Contact       string        `json:"contact"`
	Description   string        `json:"description"`
	DateFrom      *time.Time    `json:"date_from,omitempty"`
	DateTo        *time.Time    `json:"date_to,omitempty"`
	Place         string        `json:"place,omitempty"`
	Incident      string        `json:"incident,omitempty"`
}

// PublicReceipt is what a member of the public gets back.
type PublicReceipt struct {
	TrackingNumber string `json:"tracking_number"`
	StatusCode     string `json:"status_code"`
	DueDate        string `json:"due_date"`
	StatusURL      string `json:"status_url"`
}

func publicActor(c *gin.Context) Actor {
	return Actor{Name: "anonymous:public", Addr: c.ClientIP()}
}

// PublicCreate records a request from the public intake (page or API)
// within the per-address limit.
func (h *HTTP) PublicCreate(ctx context.Context, addr string, in Intake) (PublicReceipt, error) {
	if err := h.Store.AllowPublic(ctx, addr, "intake"); err != nil {
		return PublicReceipt{}, err
	}
	in.Channel, in.ReceivedAt = ChannelWeb, time.Time{}
	r, code, err := h.Store.Create(ctx, Actor{Name: "anonymous:public", Addr: addr}, in)
	if err != nil {
		return PublicReceipt{}, err
	}
	return PublicReceipt{TrackingNumber: r.TrackingNumber, StatusCode: code, DueDate: r.Clock.DueDate, StatusURL: "/public/requests/status"}, nil
}

// PublicLookup answers the public status page within the per-address
// limit (guessing status codes is bounded too).
func (h *HTTP) PublicLookup(ctx context.Context, addr, number, code string) (PublicStatus, error) {
	if err := h.Store.AllowPublic(ctx, addr, "status"); err != nil {
		return PublicStatus{}, err
	}
	return h.Store.PublicStatus(ctx, Actor{Name: "anonymous:public", Addr: addr}, strings.TrimSpace(number), code)
}

func (h *HTTP) publicCreate(c *gin.Context) {
	var in PublicIntake
	if !api.Bind(c, &in) {
		return
	}
	rec, err := h.PublicCreate(c.Request.Context(), c.ClientIP(), Intake{RequesterName: in.RequesterName, RequesterType: in.RequesterType,
		Contact: in.Contact, Description: in.Description, DateFrom: in.DateFrom, DateTo: in.DateTo, Place: in.Place, Incident: in.Incident})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, rec)
}

// StatusBody asks for a request's public status.
type StatusBody struct {
	TrackingNumber string `json:"tracking_number"`
	StatusCode     string `json:"status_code"`
}

func (h *HTTP) publicStatus(c *gin.Context) {
	var in StatusBody
	if !api.Bind(c, &in) {
		return
	}
	st, err := h.PublicLookup(c.Request.Context(), c.ClientIP(), in.TrackingNumber, in.StatusCode)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}
