package server

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/evidence/custody"
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
			RetainUntil: p.RetainUntil, DueAt: p.DueAt, Rule: p.Rule})
	}
	return out, nil
}

// loadSchedule reads the configured retention schedule or the embedded one.
func loadSchedule(path string) (*policy.Schedule, error) {
	data := policyconf.Retention()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("retention schedule: %w", err)
		}
		data = b
	}
	return policy.ParseSchedule(data)
}

// registerWeb mounts the review API (proxy, thumbnails, markers, tags,
// categories, cases) and the web UI, declaring every route's access on the
// API's enforcement point first.
func registerWeb(a *App) error {
	sched, err := loadSchedule(a.Config.Policy.RetentionFile)
	if err != nil {
		return err
	}
	// The retention service keeps retain-until and legal holds (and their
	// storage locks) right after category and case changes made here; it
	// holds no state, so this instance and registerRetention's may differ.
	keeper, err := newRetention(a)
	if err != nil {
		return err
	}
	authz := Authorizer{Access: a.Access}
	rv := review.New(review.Deps{
		Pool: a.Pool, Storage: a.Storage, Evidence: a.Evidence, Authorizer: authz,
		Retention: scheduleCategories{sched}, Auditor: auditor{a}, Keeper: retentionKeeper{keeper},
	})
	a.API.Declare(review.Routes())
	rv.Register(a.API.Engine())
	ui, err := web.New(web.Deps{
		API: a.API, Identity: a.Identity, Evidence: a.Evidence, Review: rv, Authorizer: authz, Auditor: auditor{a},
		Custody: custodyEvents{a}, SessionMax: a.Config.Server.SessionMax, SecureCookies: a.Config.Server.SecureCookies,
		Purges: upcomingPurges{keeper},
	})
	if err != nil {
		return err
	}
	a.API.Declare(web.Routes())
	ui.Register(a.API.Engine())
	return nil
}
