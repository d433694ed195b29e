package pkgtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"os"
	"strings"

	"github.com/opendems/opendems/evidence/release/bagit"
)

// Rebag rewrites the package at src as a new, internally consistent bag
// at dst, signed with key, after edit has changed payload files (edit
// returns the new bytes, or nil to drop the file). It is what someone who
// holds a signing key could do, so that tests can reach the release-level
// checks behind a valid bag.
func Rebag(src, dst string, key ed25519.PrivateKey, edit func(name string, data []byte) []byte) error {
	b, err := bagit.Open(src)
	if err != nil {
		return err
	}
	defer b.Close()
	infoData, err := b.ReadFile(bagit.BagInfoFile)
	if err != nil {
		return err
	}
	info, err := bagit.ParseInfo(bagit.BagInfoFile, infoData)
	if err != nil {
		return err
	}
	var keep bagit.Info
	for _, f := range info {
		if f.Label != "Payload-Oxum" {
			keep = append(keep, f)
		}
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	w, err := bagit.NewZipWriter(out, b.Base, bagit.Options{Info: keep, SigningKey: key, Now: Now})
	if err != nil {
		return err
	}
	for _, name := range b.Files() {
		if !strings.HasPrefix(name, bagit.PayloadDir) {
			continue
		}
		r, err := b.OpenFile(name)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return err
		}
		if data = edit(name, data); data == nil {
			continue
		}
		if _, err := w.AddPayload(context.Background(), strings.TrimPrefix(name, bagit.PayloadDir), bytes.NewReader(data)); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return out.Close()
}
