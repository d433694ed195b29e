package devseed

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/request"
)

// DemoRequest is the seeded public access request, as var/dev-credentials.json
// shows it ("demo_request"): its tracking number, and the public status code
// the requester would have been given at intake (for the public status page).
type DemoRequest struct {
	ID             string `json:"id"`
	TrackingNumber string `json:"tracking_number"`
	StatusCode     string `json:"status_code"`
}

// The demo request asks for the lobby recording (demoRecordings), and the
// records user works it.
const (
	demoRequestFootage = "Witness interviews, City Hall lobby"
	demoRequestOfficer = "records"
)

// SeedDemoRequest gives the records floor one request to work at once: a
// reporter's request for the City Hall lobby interviews, received by
// e-mail, assigned to the demo records user and moved through the
// server-enforced transitions (received → assigned → searching →
// redacting), with the lobby recording linked as a clip by that user, so
// the link is in the item's chain of custody and on the request's
// timeline. Everything goes through request.Store, as the floor's own
// actions do. media is what SeedDemoMedia returned (one id per demo
// recording, in order); when it is empty (media seeded before, so the
// database was not empty) or any request exists already, it does nothing
// and returns nil.
func SeedDemoRequest(ctx context.Context, a *App, media []uuid.UUID) (*DemoRequest, error) {
	if len(media) == 0 {
		return nil, nil
	}
	if a.Requests == nil {
		return nil, fmt.Errorf("seed request: no request store")
	}
	if len(media) != len(demoRecordings) {
		return nil, fmt.Errorf("seed request: %d recordings seeded, want %d", len(media), len(demoRecordings))
	}
	existing, err := a.Requests.List(ctx, request.ListFilter{Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("seed request: %w", err)
	}
	if len(existing) > 0 {
		return nil, nil
	}
	var footage uuid.UUID
	var rec demoRecording
	for i, r := range demoRecordings {
		if r.title == demoRequestFootage {
			footage, rec = media[i], r
		}
	}
	clip, ok := faceClips[rec.faces]
	if footage == uuid.Nil || !ok {
		return nil, fmt.Errorf("seed request: no face recording %q among the demo recordings", demoRequestFootage)
	}
	u, err := a.Identity.UserByName(ctx, demoRequestOfficer)
	if err != nil {
		return nil, fmt.Errorf("seed request: %s: %w", demoRequestOfficer, err)
	}
	who := request.Actor{Name: identity.Principal{Kind: identity.KindUser, Name: u.Username}.Actor(), UserID: u.ID, Addr: "127.0.0.1"}

	// Received by e-mail shortly after the interviews; the date range
	// brackets the recording, as a requester would write it.
	recorded := time.Now().Add(-rec.ago).UTC().Truncate(time.Minute)
	from, to := recorded.Add(-time.Hour), recorded.Add(time.Hour)
	received := time.Now().Add(-rec.ago / 2).UTC().Truncate(time.Minute)
	r, code, err := a.Requests.Create(ctx, who, request.Intake{
		RequesterName: "Dana Reyes, Harbor City Ledger",
		RequesterType: request.RequesterMedia,
		Contact:       "dana.reyes@harborcityledger.example\n+1 555 0134",
		Description: "All body-worn camera footage of the witness interviews conducted in the City Hall lobby " +
			"after the disturbance outside the council chamber. Redacted copies are acceptable.",
		DateFrom:   &from,
		DateTo:     &to,
		Place:      rec.location,
		Incident:   fmt.Sprintf("INC-%s-0457", recorded.Format("2006")),
		Channel:    request.ChannelEmail,
		ReceivedAt: received,
	})
	if err != nil {
		return nil, fmt.Errorf("seed request: %w", err)
	}
	number := r.TrackingNumber
	steps := []request.TransitionInput{
		{To: request.StateAssigned, Assignee: u.Username, Note: "Media request; City Hall lobby footage."},
		{To: request.StateSearching, Note: "Searching North Patrol recordings near City Hall."},
	}
	for _, st := range steps {
		if r, err = a.Requests.Transition(ctx, r.ID, who, st); err != nil {
			return nil, fmt.Errorf("seed request %s: %w", number, err)
		}
	}
	// The whole recording: both interviews are asked for.
	if _, err := a.Requests.AddClip(ctx, r.ID, who, request.ClipInput{EvidenceID: footage, InMs: 0,
		OutMs: int64(clip.Seconds) * 1000}); err != nil {
		return nil, fmt.Errorf("seed request %s: %w", number, err)
	}
	if r, err = a.Requests.Transition(ctx, r.ID, who, request.TransitionInput{To: request.StateRedacting,
		Note: "Footage found: faces of both witnesses to be redacted."}); err != nil {
		return nil, fmt.Errorf("seed request %s: %w", number, err)
	}
	a.Logger.Info("demo public access request seeded", "tracking_number", r.TrackingNumber, "state", r.State, "assignee", r.Assignee)
	return &DemoRequest{ID: r.ID.String(), TrackingNumber: r.TrackingNumber, StatusCode: code}, nil
}
