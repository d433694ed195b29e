package dock

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opendems/opendems/evidence/ingest/receipt"
)

// PinnedKeyFile is the name of the pinned receipt key in the state dir.
const PinnedKeyFile = "receipt-key.json"

// JournalFile and StatusFile are the daemon's files in the state dir.
const (
	JournalFile = "journal.db"
	StatusFile  = "status.json"
)

// ErrKeyChanged means the server now presents another receipt key than
// the one pinned at enrollment: refuse, an operator must re-enroll.
var ErrKeyChanged = errors.New("server receipt key differs from the pinned key")

// PinKey stores pk in stateDir. If a different key is already pinned it
// returns ErrKeyChanged unless force is set.
func PinKey(stateDir string, pk receipt.PublicKey, force bool) error {
	pub, err := pk.Key()
	if err != nil {
		return fmt.Errorf("dock: pin: %w", err)
	}
	if old, err := LoadPinnedKey(stateDir); err == nil && !old.Equal(pub) && !force {
		return fmt.Errorf("dock: pin: %w (pinned %s, server %s)", ErrKeyChanged, receipt.KeyID(old), receipt.KeyID(pub))
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return fmt.Errorf("dock: pin: %w", err)
	}
	b, err := json.MarshalIndent(receipt.NewPublicKey(pub), "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(stateDir, PinnedKeyFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("dock: pin: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("dock: pin: %w", err)
	}
	return nil
}

// LoadPinnedKey reads the key pinned in stateDir.
func LoadPinnedKey(stateDir string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, PinnedKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dock: no receipt key pinned in %s (run dems-dock enroll): %w", stateDir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("dock: pinned key: %w", err)
	}
	var pk receipt.PublicKey
	if err := json.Unmarshal(b, &pk); err != nil {
		return nil, fmt.Errorf("dock: pinned key %s: %w", filepath.Join(stateDir, PinnedKeyFile), err)
	}
	return pk.Key()
}
