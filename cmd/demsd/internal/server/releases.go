package server

import (
	"time"

	"github.com/riverqueue/river"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/release"
	"github.com/opendems/opendems/evidence/request"
)

// newReleases builds the review, release and share service from the
// releases section of the configuration. Packages are signed with the
// custody checkpoint key, so `dems verify --server` checks them against
// GET /api/v1/custody/public-key.
func newReleases(a *App) *release.Service {
	c := a.Config.Releases
	var queue request.Queue // a nil *river.Client must stay a nil interface
	if a.River != nil {
		queue = a.River
	}
	return release.New(release.Deps{
		Pool: a.Pool, Requests: a.Requests, Storage: a.Storage, SigningKey: a.Key, Logger: a.Logger, Queue: queue,
		Hasher: passcodeHasher{},
		Settings: release.Settings{
			Agency: release.Agency{Name: c.Agency.Name, ContactEmail: c.Agency.ContactEmail, Address: c.Agency.Address,
				Signatory: c.Agency.Signatory, Title: c.Agency.Title},
			PublicURL: a.Config.Server.PublicURL, RetainFor: c.RetainFor, ShareDefault: c.ShareDefaultExpiry, ShareMax: c.ShareMaxExpiry,
			PasscodeAttempts: c.PasscodeAttempts, PasscodeLockout: c.PasscodeLockout,
			ShareSessionWindow: c.ShareSessionWindow,
		},
	})
}

// passcodeHasher hashes share link passcodes like passwords (argon2id).
type passcodeHasher struct{}

func (passcodeHasher) Hash(p string) (string, error) {
	return identity.HashPassword(p, identity.DefaultArgon2)
}
func (passcodeHasher) Verify(p, enc string) (bool, error) { return identity.VerifyPassword(p, enc) }

// releaseBuilders is how many release packages one worker process builds
// at once (queue release.Queue): builds are bound by storage bandwidth.
const releaseBuilders = 2

// registerReleaseWorkers adds the release build job; an attempt stops by
// its own deadline before river would rescue it.
func registerReleaseWorkers(a *App, ws *river.Workers) {
	river.AddWorker(ws, &release.BuildWorker{Service: newReleases(a), MaxDuration: a.Config.Workers.RescueStuckAfter - 5*time.Minute})
}
