// Package devseed fills a development server (`demsd dev`, and the server
// tests) with the demo agency: units, users of every role with passwords
// and API tokens (written to var/dev-credentials.json), a docking station,
// and a few playable recordings uploaded through the real ingest path by a
// dock of each officer's unit (custody names the dock). Two of them show
// real, freely licensed faces moving at 720p (faces/, embedded; see
// faces/SOURCES.md), drawn in Go and encoded with transcode.Proxy (go-astiav)
// once, then cached under the scratch directory (var/seed). It is not part
// of the server: cmd/demsd's dev command calls it.
package devseed

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest"
)

// App is what seeding needs of a built demsd (server.App's parts).
type App struct {
	Pool     *pgxpool.Pool
	Identity *identity.Store
	Ingest   *ingest.Service
	Logger   *slog.Logger
}
