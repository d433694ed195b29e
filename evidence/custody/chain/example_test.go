package chain_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence/custody/chain"
)

// Example builds a two-event chain, signs a checkpoint over its head,
// writes an export and verifies it offline, as `dems custody verify` does.
func Example() {
	pub, priv, _ := ed25519.GenerateKey(nil)
	id := uuid.MustParse("3f2a0000-0000-4000-8000-000000000001")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	ingested := chain.Event{EvidenceID: id, Seq: 1, Time: t0, Actor: "dock:station-3",
		Action: chain.ActionIngested, Details: []byte(`{"sha256":"ab12","size":1234}`)}
	ingested.Seal()
	viewed := chain.Event{EvidenceID: id, Seq: 2, Time: t0.Add(time.Hour), Actor: "user:jdoe",
		Action: chain.ActionViewed, Details: []byte(`{}`), PrevHash: ingested.Hash}
	viewed.Seal()

	leaf := chain.Leaf{EvidenceID: id, Seq: viewed.Seq, Hash: viewed.Hash}
	tree := chain.NewTree([]chain.Hash{chain.LeafHash(leaf.Bytes())})
	cp := chain.Checkpoint{ID: 1, Time: t0.Add(2 * time.Hour), TreeSize: 1, Root: tree.Root()}
	cp.Sign(priv)
	path, _ := tree.Proof(0)

	var export bytes.Buffer
	x := chain.NewExportWriter(&export)
	x.Header("evidence:"+id.String(), pub, t0)
	x.Checkpoint(cp, []chain.ExportProof{{EvidenceID: id, Seq: leaf.Seq, Hash: leaf.Hash, LeafIndex: 0, Path: path}})
	x.Event(&ingested)
	x.Event(&viewed)
	x.Close()

	rep, err := chain.VerifyExport(bytes.NewReader(export.Bytes()), pub)
	fmt.Println(rep.Events, rep.Proofs, rep.KeyTrusted, err)

	// Change one character of the first event's details.
	tampered := bytes.Replace(export.Bytes(), []byte(`"size":1234`), []byte(`"size":1235`), 1)
	_, err = chain.VerifyExport(bytes.NewReader(tampered), pub)
	fmt.Println(err != nil)
	// Output:
	// 2 1 true <nil>
	// true
}
