package fs_test

import (
	"testing"

	"github.com/opendems/opendems/storage"
	"github.com/opendems/opendems/storage/fs"
	"github.com/opendems/opendems/storage/storagetest"
)

func newStoreB(tb testing.TB, root string) *fs.Store {
	tb.Helper()
	s, err := fs.New(root, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newStore(t *testing.T, root string) *fs.Store {
	t.Helper()
	s, err := fs.New(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t,
		func(t *testing.T) storage.Backend { return newStore(t, t.TempDir()) },
		storagetest.WithReopen(func(t *testing.T, b storage.Backend) storage.Backend {
			return newStore(t, b.(*fs.Store).Root())
		}))
}
