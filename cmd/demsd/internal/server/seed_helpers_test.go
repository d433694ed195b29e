package server

import (
	"context"

	"github.com/google/uuid"

	"github.com/opendems/opendems/cmd/demsd/internal/devseed"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/ingest/wire"
)

// The tests seed the demo agency as `demsd dev` does (package devseed).
type (
	Credentials = devseed.Credentials
	DemoUser    = devseed.DemoUser
	DemoClip    = devseed.DemoClip
)

func seedApp(a *App) *devseed.App {
	return &devseed.App{Pool: a.Pool, Identity: a.Identity, Ingest: a.Ingest, Requests: a.Requests, Logger: a.Logger}
}

func SeedDemo(ctx context.Context, a *App, credPath, url string) (Credentials, error) {
	return devseed.SeedDemo(ctx, seedApp(a), credPath, url)
}

func SeedDemoMedia(ctx context.Context, a *App, scratch string) ([]uuid.UUID, error) {
	return devseed.SeedDemoMedia(ctx, seedApp(a), scratch)
}

func IngestFile(ctx context.Context, a *App, p identity.Principal, path, filename string, meta wire.Metadata) (uuid.UUID, error) {
	return devseed.IngestFile(ctx, seedApp(a), p, path, filename, meta)
}

var MakeDemoClip = devseed.MakeDemoClip
var demoRecordingCount = devseed.DemoRecordings()
