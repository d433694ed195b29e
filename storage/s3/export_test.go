package s3

import (
	"context"

	"github.com/opendems/opendems/storage"
)

// RemoveAllVersions exposes the removal step of Delete without its
// retention pre-check, so tests can show the server itself refuses.
func (s *Store) RemoveAllVersions(ctx context.Context, ref storage.Ref) error {
	return s.removeAllVersions(ctx, key(ref))
}
