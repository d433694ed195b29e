package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/custody/audit"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/evidence/release"
	"github.com/opendems/opendems/evidence/request"
	"github.com/opendems/opendems/evidence/retention"
	"github.com/opendems/opendems/evidence/review"
	"github.com/opendems/opendems/evidence/web"
	"github.com/opendems/opendems/policy"
)

// scheduleCategories offers the retention schedule's categories to the
// review UI and API.
type scheduleCategories struct{ s *policy.Schedule }

func (c scheduleCategories) Categories() []review.Category {
	var out []review.Category
	for _, k := range c.s.Categories() {
		out = append(out, review.Category{Name: k.Name, Keep: k.Keep.String()})
	}
	return out
}

// custodyEvents reads chains for the web timeline.
type custodyEvents struct{ a *App }

func (c custodyEvents) Events(ctx context.Context, id uuid.UUID) ([]custody.Event, error) {
	return custody.Events(ctx, c.a.Pool, id)
}

// upcomingPurges shows retention's scheduled purges on the dashboard.
type upcomingPurges struct{ s *retention.Service }

func (u upcomingPurges) UpcomingPurges(ctx context.Context, before time.Time, limit int) ([]web.UpcomingPurge, error) {
	ps, err := u.s.UpcomingPurges(ctx, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]web.UpcomingPurge, 0, len(ps))
	for _, p := range ps {
		out = append(out, web.UpcomingPurge{EvidenceID: p.EvidenceID, Unit: p.Unit, Categories: p.Categories,
			RetainUntil: p.RetainUntil, DueAt: p.DueAt, Rule: p.Rule, ScheduledBy: p.ScheduledBy, ScheduledAt: p.ScheduledAt, Reason: p.Reason})
	}
	return out, nil
}

// retentionAdmin gives the retention and holds admin pages the schedule
// in force and the hold and purge operations (web.RetentionAdmin).
type retentionAdmin struct {
	s     *retention.Service
	sched web.RetentionSchedule
}

// Schedule implements web.RetentionAdmin.
func (r retentionAdmin) Schedule() web.RetentionSchedule { return r.sched }

// scheduleView describes the schedule file newRetention builds the
// service from (the same file, read the same way), for display.
func scheduleView(a *App) web.RetentionSchedule {
	sched, cfg, data, source := a.schedule, a.scheduleConfig, a.scheduleFile.Data, a.scheduleFile.Source
	sum := sha256.Sum256(data)
	out := web.RetentionSchedule{Source: source, Version: hex.EncodeToString(sum[:]), DefaultCategory: cfg.DefaultCategory,
		SubjectRequest: cfg.SubjectRequest.Extend, PurgeGrace: a.Config.Retention.PurgeGrace}
	if out.PurgeGrace == 0 {
		out.PurgeGrace = retention.DefaultPurgeGrace
	}
	desc := map[string]string{}
	for _, k := range cfg.Categories {
		desc[k.Name] = k.Description
	}
	// The periods as the parsed schedule holds them (what is enforced).
	for _, k := range sched.Categories() {
		out.Categories = append(out.Categories, web.RetentionPeriod{Name: k.Name, Keep: k.Keep.String(), Description: desc[k.Name]})
	}
	for _, f := range cfg.Flags {
		out.Flags = append(out.Flags, web.RetentionPeriod{Name: f.Name, Keep: f.Extend, Description: f.Description})
	}
	return out
}

// ActiveHolds implements web.RetentionAdmin.
func (r retentionAdmin) ActiveHolds(ctx context.Context, limit int) ([]web.LegalHold, error) {
	hs, err := r.s.ListHolds(ctx, true, limit)
	if err != nil {
		return nil, err
	}
	out := make([]web.LegalHold, 0, len(hs))
	for _, h := range hs {
		out = append(out, web.LegalHold{ID: h.ID, EvidenceID: h.EvidenceID, CaseID: h.CaseID, Reason: h.Reason, SetBy: h.SetByName, SetAt: h.SetAt})
	}
	return out, nil
}

// ReleaseCaseHold implements web.RetentionAdmin.
func (r retentionAdmin) ReleaseCaseHold(ctx context.Context, caseID uuid.UUID, by identity.Principal) error {
	_, err := r.s.ReleaseCaseHold(ctx, caseID, "", by)
	return err
}

// HoldItem implements web.RetentionAdmin.
func (r retentionAdmin) HoldItem(ctx context.Context, id uuid.UUID, reason string, by identity.Principal) error {
	_, _, err := r.s.SetItemHold(ctx, id, reason, by)
	return err
}

// ReleaseItemHold implements web.RetentionAdmin.
func (r retentionAdmin) ReleaseItemHold(ctx context.Context, id, holdID uuid.UUID, by identity.Principal) error {
	_, _, err := r.s.ReleaseItemHold(ctx, id, &holdID, "", by)
	return err
}

// CancelPurge implements web.RetentionAdmin.
func (r retentionAdmin) CancelPurge(ctx context.Context, id uuid.UUID, actor, reason string) error {
	return r.s.CancelPurge(ctx, id, actor, reason)
}

// registerHTTP mounts every package's part of the route table on the
// API's enforcement point: the loaders first (item is the API's own, case
// is review's), then the routes of ingest, custody, audit, review,
// retention and the web UI. Retention owns holds and categories; review
// keeps markers, tags, cases and the attention flag.
func registerHTTP(a *App) error {
	keeper, err := newRetention(a)
	if err != nil {
		return err
	}
	sched, view := a.schedule, scheduleView(a)
	rv := review.New(review.Deps{
		Pool: a.Pool, Storage: a.Storage, Evidence: a.Evidence,
		Retention: scheduleCategories{sched}, Auditor: auditor{a}, Keeper: retentionKeeper{keeper},
	})
	a.API.RegisterLoader(api.KindCase, rv.CaseLoader())
	a.API.RegisterLoader(request.KindRequest, a.Requests.Loader())
	a.Requests.SetHolds(requestHolds{keeper})
	reqHTTP := &request.HTTP{Store: a.Requests, Queue: a.River, Storage: a.Storage}
	// The editor's waveform lane: envelopes computed from the proxy on
	// first use and kept as the item's "waveform" derivative.
	reqHTTP.Waveforms = &jobs.Waveforms{Pool: a.Pool, Storage: a.Storage}
	ui, err := web.New(web.Deps{Requests: reqHTTP,
		API: a.API, Identity: a.Identity, Evidence: a.Evidence, Review: rv, Auditor: auditor{a},
		Custody: custodyEvents{a}, SessionMax: a.Config.Server.SessionMax, SecureCookies: a.Config.Server.SecureCookies,
		Purges: upcomingPurges{keeper}, Retention: retentionAdmin{s: keeper, sched: view},
	})
	if err != nil {
		return err
	}
	a.API.SetPageErrorWriter(ui.PageError)
	a.API.Mount(meterIngestRoutes(a.Metrics, a.Ingest.Routes())...)
	a.API.Mount(custody.Routes(a.Custody)...)
	a.API.Mount(audit.Routes(a.Pool)...)
	a.API.Mount(rv.Routes()...)
	a.API.Mount(keeper.Routes()...)
	a.API.Mount(ui.Routes()...)
	a.API.Mount(reqHTTP.Routes()...)
	a.API.Mount(ui.RequestRoutes()...)
	a.Releases = newReleases(a)
	a.API.RegisterLoader(release.KindRelease, a.Releases.Loader())
	a.API.Mount(a.Releases.Routes()...)
	keeper.SetExplainer("review", a.Releases.ExplainReview)
	return nil
}
