// Package devseed fills a development server (`demsd dev`, and the server
// tests) with the demo agency: units, users of every role with passwords
// and API tokens (written to var/dev-credentials.json), a docking station,
// and a few playable recordings uploaded through the real ingest path by a
// dock of each officer's unit (custody names the dock). Two of them show
// real, freely licensed faces moving at 720p (faces/, embedded; see
// faces/SOURCES.md), drawn in Go and encoded with transcode.Proxy (go-astiav)
// once, then cached under the scratch directory (var/seed); and one public
// access request for the City Hall lobby recording, already in redacting
// for the records user with that recording linked as a clip (written to
// the credentials file as "demo_request"). It is not part
// of the server: cmd/demsd's dev command calls it.
package devseed

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest"
	"github.com/opendems/opendems/evidence/request"
)

// App is what seeding needs of a built demsd (server.App's parts).
type App struct {
	Pool     *pgxpool.Pool
	Identity *identity.Store
	Ingest   *ingest.Service
	Requests *request.Store
	Logger   *slog.Logger
}
