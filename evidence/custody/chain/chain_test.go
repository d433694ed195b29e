package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: ``, want: `{}`},
		{in: ` { } `, want: `{}`},
		{in: `{"b":1,"a":2}`, want: `{"a":2,"b":1}`},
		{in: `{"a":{"z":true,"y":null},"b":[3,"x",{"k":1.50}]}`, want: `{"a":{"y":null,"z":true},"b":[3,"x",{"k":1.5}]}`},
		{in: `{"n":1.0}`, want: `{"n":1}`},
		{in: `{"n":-0}`, want: `{"n":0}`},
		{in: `{"n":1e3}`, want: `{"n":1000}`},
		{in: `{"n":1e21}`, want: `{"n":1e+21}`},
		{in: `{"n":0.000001}`, want: `{"n":0.000001}`},
		{in: `{"n":1e-7}`, want: `{"n":1e-07}`},
		{in: `{"n":12345678901234567890}`, want: `{"n":12345678901234567000}`},
		{in: `{"s":"<a&b>\u00e9\u2028"}`, want: "{\"s\":\"<a&b>é\u2028\"}"},
		{in: `{"s":"\u0001\n\"\\"}`, want: `{"s":"\u0001\n\"\\"}`},
		{in: `{"a":1,"a":2}`, bad: true},
		{in: `[1]`, bad: true},
		{in: `"x"`, bad: true},
		{in: `{"a":1} {}`, bad: true},
		{in: `{"a":1e999}`, bad: true},
		{in: "{\"a\":\"\xff\"}", bad: true},
		{in: `{"a":`, bad: true},
		{in: strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70), bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if tc.bad {
				if !errors.Is(err, ErrBadDetails) {
					t.Fatalf("Canonicalize(%q) = %s, %v; want ErrBadDetails", tc.in, got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("Canonicalize(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
			again, err := Canonicalize(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("not idempotent: %s -> %s, %v", got, again, err)
			}
		})
	}
}

func TestActionCheckDetails(t *testing.T) {
	tests := []struct {
		a       Action
		details map[string]any
		want    error
	}{
		{ActionViewed, nil, nil},
		{ActionMetadataChanged, map[string]any{"field": "title", "old": "a", "new": "b"}, nil},
		{ActionMetadataChanged, map[string]any{"field": "title", "new": "b"}, ErrMissingDetail},
		{ActionCaseAdded, map[string]any{}, ErrMissingDetail},
		{Action("exploded"), nil, ErrUnknownAction},
	}
	for _, tc := range tests {
		if err := tc.a.CheckDetails(tc.details); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Errorf("%s.CheckDetails(%v) = %v, want %v", tc.a, tc.details, err, tc.want)
		}
	}
}

func TestMerkleInclusionAllSizes(t *testing.T) {
	for n := 1; n <= 40; n++ {
		leaves := make([]Hash, n)
		for i := range leaves {
			leaves[i] = LeafHash([]byte{byte(i)})
		}
		root := MerkleRoot(leaves)
		if want := refRoot(leaves); root != want {
			t.Fatalf("n=%d: root %s, reference %s", n, root, want)
		}
		for i := range leaves {
			p, err := InclusionProof(leaves, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(leaves[i], int64(i), int64(n), p, root); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			// A proof must not verify for another leaf, index or size.
			if err := VerifyInclusion(LeafHash([]byte("x")), int64(i), int64(n), p, root); err == nil {
				t.Fatalf("n=%d i=%d: wrong leaf verified", n, i)
			}
			if n > 1 {
				if err := VerifyInclusion(leaves[i], int64((i+1)%n), int64(n), p, root); err == nil {
					t.Fatalf("n=%d i=%d: wrong index verified", n, i)
				}
			}
		}
	}
	if got, want := MerkleRoot(nil), Hash(sha256.Sum256(nil)); got != want {
		t.Fatalf("empty root %s, want %s", got, want)
	}
}

// refRoot is RFC 6962's recursive definition, as an independent reference.
func refRoot(d []Hash) Hash {
	if len(d) == 1 {
		return d[0]
	}
	k := 1
	for k*2 < len(d) {
		k *= 2
	}
	return NodeHash(refRoot(d[:k]), refRoot(d[k:]))
}

func TestCheckpointSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	c := Checkpoint{ID: 3, Time: time.Now(), TreeSize: 5, Root: LeafHash([]byte("r"))}
	c.Sign(priv)
	if err := c.VerifySignature(pub); err != nil {
		t.Fatal(err)
	}
	if err := c.VerifySignature(otherPub); !errors.Is(err, ErrUntrustedKey) {
		t.Fatalf("other key: %v", err)
	}
	c.TreeSize++
	if err := c.VerifySignature(nil); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed tree size: %v", err)
	}
}

func TestParsePublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	pemKey, _ := MarshalPublicKeyPEM(pub)
	for name, in := range map[string]string{
		"pem":    string(pemKey),
		"hex":    fmt.Sprintf(" %x\n", []byte(pub)),
		"base64": " " + b64(pub) + "\n",
	} {
		got, err := ParsePublicKey([]byte(in))
		if err != nil || !got.Equal(pub) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePublicKey([]byte("nonsense")); !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("nonsense: %v", err)
	}
}

func TestCheckerProblems(t *testing.T) {
	id := uuid.MustParse("3f2a0000-0000-4000-8000-000000000001")
	mk := func(n int) []Event { return buildChain(id, n) }
	tests := []struct {
		name   string
		mutate func([]Event) []Event
		kind   ProblemKind
		seq    int64
		msg    string
	}{
		{"intact", func(e []Event) []Event { return e }, "", 0, ""},
		{"detail changed", func(e []Event) []Event { e[6].Details = []byte(`{"n":99}`); return e }, ProblemHashMismatch, 7, "hash mismatch: stored"},
		{"deleted", func(e []Event) []Event { return append(e[:4], e[5:]...) }, ProblemGap, 6, "seq 5 missing (gap between 4 and 6)"},
		{"deleted two", func(e []Event) []Event { return append(e[:4], e[6:]...) }, ProblemGap, 7, "seq 5 to 6 missing (gap between 4 and 7)"},
		{"first deleted", func(e []Event) []Event { return e[1:] }, ProblemGap, 2, "seq 1 missing"},
		{"swapped", func(e []Event) []Event { e[2], e[3] = e[3], e[2]; e[2].Seq, e[3].Seq = 3, 4; return e }, ProblemPrevHashMismatch, 3, "prev_hash mismatch"},
		{"reordered rows", func(e []Event) []Event { e[2], e[3] = e[3], e[2]; return e }, ProblemGap, 4, "seq 3 missing"},
		{"duplicate", func(e []Event) []Event { return append(e[:5], e[4:]...) }, ProblemOutOfOrder, 5, "out of order or duplicated (after seq 5)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probs := VerifyChain(tc.mutate(mk(10)))
			if tc.kind == "" {
				if len(probs) != 0 {
					t.Fatalf("intact chain: %v", probs)
				}
				return
			}
			if len(probs) == 0 {
				t.Fatal("tampering not detected")
			}
			p := probs[0]
			if p.Kind != tc.kind || p.Seq != tc.seq || !strings.Contains(p.String(), tc.msg) || p.EvidenceID != id {
				t.Fatalf("first problem %+v (%s); want kind %s seq %d containing %q", p, p, tc.kind, tc.seq, tc.msg)
			}
		})
	}
}

func buildChain(id uuid.UUID, n int) []Event {
	out := make([]Event, n)
	prev := ZeroHash
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for i := range out {
		out[i] = Event{EvidenceID: id, Seq: int64(i + 1), Time: t0.Add(time.Duration(i) * time.Second),
			Actor: "user:jdoe", Action: ActionViewed, Details: []byte(fmt.Sprintf(`{"n":%d}`, i)), PrevHash: prev}
		prev = out[i].Seal()
	}
	return out
}

func TestTreeMatchesRFC6962Path(t *testing.T) {
	for n := 0; n <= 40; n++ {
		leaves := make([]Hash, n)
		for i := range leaves {
			leaves[i] = LeafHash([]byte{byte(i), 7})
		}
		tr := NewTree(leaves)
		if tr.Root() != MerkleRoot(leaves) {
			t.Fatalf("n=%d: root differs", n)
		}
		for i := 0; i < n; i++ {
			got, _ := tr.Proof(i)
			want, _ := InclusionProof(leaves, i)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("n=%d i=%d: tree proof %v, RFC path %v", n, i, got, want)
			}
		}
	}
}

func TestAppendTimeMatchesLayout(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", 3600)),
		time.Date(2000, 2, 29, 0, 0, 0, 1000, time.UTC),
		time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, want := string(appendTime(nil, tm)), CanonicalTime(tm).Format(TimeLayout); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestParseTimeFast(t *testing.T) {
	for _, s := range []string{"2026-01-02T03:04:05.123456Z", "2026-02-29T00:00:00.000000Z", "2026-13-01T00:00:00.000000Z",
		"2026-01-02T03:04:05.12345Z", "2026-01-02 03:04:05.123456Z", "2026-01-02T24:00:00.000000Z", "x026-01-02T03:04:05.123456Z"} {
		want, werr := ParseTime(s)
		got, ok := parseTimeFast([]byte(s))
		if ok != (werr == nil) || (ok && !got.Equal(want)) {
			t.Errorf("%s: fast %v %v, ParseTime %v %v", s, got, ok, want, werr)
		}
	}
}
