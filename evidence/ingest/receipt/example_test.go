package receipt_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opendems/opendems/evidence/ingest/receipt"
)

// A dock (or anyone with the server's public key) checks a receipt
// offline: the signature, and that it is about the file at hand.
func ExampleVerifyFor() {
	seed := make([]byte, ed25519.SeedSize) // the server's key; fixed here for a stable example
	key := ed25519.NewKeyFromSeed(seed)
	signed, _ := receipt.Sign(key, receipt.Receipt{
		EvidenceID: "7f0c1a52-3c1e-4a57-9d55-0a3f1d1b2c3d",
		SHA256:     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Size:       4,
		IngestedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	})
	raw, _ := json.Marshal(signed) // what the server sends

	var r receipt.Receipt
	json.Unmarshal(raw, &r)
	pinned := key.Public().(ed25519.PublicKey) // pinned at enrollment
	fmt.Println(receipt.VerifyFor(pinned, r, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 4))
	fmt.Println(receipt.VerifyFor(pinned, r, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 5) != nil)
	// Output:
	// <nil>
	// true
}
