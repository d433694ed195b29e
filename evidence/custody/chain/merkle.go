package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/google/uuid"
)

// Leaf is one chain head as committed to by a checkpoint.
type Leaf struct {
	EvidenceID uuid.UUID
	Seq        int64
	Hash       Hash
}

// LeafSize is the length of Leaf.Bytes.
const LeafSize = 16 + 8 + sha256.Size

// Bytes returns evidence_id || seq (big endian) || head hash.
func (l Leaf) Bytes() []byte {
	b := make([]byte, LeafSize)
	copy(b, l.EvidenceID[:])
	binary.BigEndian.PutUint64(b[16:], uint64(l.Seq))
	copy(b[24:], l.Hash[:])
	return b
}

// ParseLeaves decodes a concatenation of Leaf.Bytes (how checkpoints store
// their leaves) and checks that they are strictly sorted by evidence id.
func ParseLeaves(b []byte) ([]Leaf, error) {
	if len(b)%LeafSize != 0 {
		return nil, fmt.Errorf("leaves: length %d is not a multiple of %d", len(b), LeafSize)
	}
	out := make([]Leaf, len(b)/LeafSize)
	for i := range out {
		p := b[i*LeafSize:]
		copy(out[i].EvidenceID[:], p[:16])
		out[i].Seq = int64(binary.BigEndian.Uint64(p[16:24]))
		copy(out[i].Hash[:], p[24:LeafSize])
		if i > 0 && bytes.Compare(out[i-1].EvidenceID[:], out[i].EvidenceID[:]) >= 0 {
			return nil, fmt.Errorf("leaves: not strictly sorted at %d", i)
		}
	}
	return out, nil
}

// EncodeLeaves concatenates the leaves' bytes.
func EncodeLeaves(leaves []Leaf) []byte {
	b := make([]byte, 0, len(leaves)*LeafSize)
	for _, l := range leaves {
		b = append(b, l.Bytes()...)
	}
	return b
}

// LeafHash is RFC 6962's MTH of a single entry: SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash is RFC 6962's interior node: SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+sha256.Size:], right[:])
	return sha256.Sum256(buf[:])
}

// MerkleRoot returns RFC 6962's Merkle Tree Hash of the leaf hashes; the
// root of an empty tree is SHA-256 of the empty string.
func MerkleRoot(leafHashes []Hash) Hash {
	if len(leafHashes) == 0 {
		return sha256.Sum256(nil)
	}
	// Bottom-up with RFC 6962's split (largest power of two smaller than
	// n) gives the same tree as carrying an odd last node up unchanged.
	level := append([]Hash(nil), leafHashes...)
	for len(level) > 1 {
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, NodeHash(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		level = next
	}
	return level[0]
}

// InclusionProof returns RFC 6962's audit path for leaf index of the tree
// over leafHashes.
func InclusionProof(leafHashes []Hash, index int) ([]Hash, error) {
	if index < 0 || index >= len(leafHashes) {
		return nil, fmt.Errorf("%w: index %d outside tree of size %d", ErrBadProof, index, len(leafHashes))
	}
	return path(index, leafHashes), nil
}

func path(m int, d []Hash) []Hash {
	n := len(d)
	if n <= 1 {
		return nil
	}
	k := largestPowerOfTwoBelow(n)
	if m < k {
		return append(path(m, d[:k]), MerkleRoot(d[k:]))
	}
	return append(path(m-k, d[k:]), MerkleRoot(d[:k]))
}

func largestPowerOfTwoBelow(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// VerifyInclusion checks that leafHash is at index in a tree of size
// treeSize with the given root (RFC 9162 section 2.1.3.2).
func VerifyInclusion(leafHash Hash, index, treeSize int64, proof []Hash, root Hash) error {
	if index < 0 || index >= treeSize {
		return fmt.Errorf("%w: index %d outside tree of size %d", ErrBadProof, index, treeSize)
	}
	fn, sn := index, treeSize-1
	r := leafHash
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: path longer than the tree is deep", ErrBadProof)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: path shorter than the tree is deep", ErrBadProof)
	}
	if r != root {
		return fmt.Errorf("%w: computed root %s, checkpoint root %s", ErrBadProof, r.Short(), root.Short())
	}
	return nil
}

func sha256Sum(b []byte) Hash { return sha256.Sum256(b) }

// Tree keeps every level of a Merkle tree so that many inclusion proofs
// (one per exported item) cost O(log n) each instead of O(n). Carrying an
// odd last node up a level unchanged builds exactly RFC 6962's tree.
type Tree struct {
	levels [][]Hash // levels[0] are the leaf hashes, the last level the root
}

// NewTree builds the tree over leafHashes.
func NewTree(leafHashes []Hash) *Tree {
	t := &Tree{levels: [][]Hash{leafHashes}}
	for cur := leafHashes; len(cur) > 1; {
		next := make([]Hash, 0, (len(cur)+1)/2)
		for i := 0; i < len(cur); i += 2 {
			if i+1 < len(cur) {
				next = append(next, NodeHash(cur[i], cur[i+1]))
			} else {
				next = append(next, cur[i])
			}
		}
		t.levels = append(t.levels, next)
		cur = next
	}
	return t
}

// Root returns the tree's root (SHA-256 of nothing for an empty tree).
func (t *Tree) Root() Hash {
	if len(t.levels[0]) == 0 {
		return sha256.Sum256(nil)
	}
	return t.levels[len(t.levels)-1][0]
}

// Proof returns the inclusion proof of leaf index.
func (t *Tree) Proof(index int) ([]Hash, error) {
	if index < 0 || index >= len(t.levels[0]) {
		return nil, fmt.Errorf("%w: index %d outside tree of size %d", ErrBadProof, index, len(t.levels[0]))
	}
	var p []Hash
	for _, lvl := range t.levels[:len(t.levels)-1] {
		sib := index ^ 1
		if sib < len(lvl) {
			p = append(p, lvl[sib])
		}
		index >>= 1
	}
	return p, nil
}
