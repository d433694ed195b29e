package chain

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// fixture builds an export of items chains with one checkpoint over all.
type fixture struct {
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
	chains map[uuid.UUID][]Event
	ids    []uuid.UUID
}

func newFixture(t testing.TB, items, events int) *fixture {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{pub: pub, priv: priv, chains: map[uuid.UUID][]Event{}}
	for i := 0; i < items; i++ {
		id := uuid.New()
		f.ids = append(f.ids, id)
		f.chains[id] = buildChain(id, events)
	}
	sort.Slice(f.ids, func(i, j int) bool { return bytes.Compare(f.ids[i][:], f.ids[j][:]) < 0 })
	return f
}

func (f *fixture) export(t testing.TB) []byte {
	var buf bytes.Buffer
	x := NewExportWriter(&buf)
	if err := x.Header("all", f.pub, time.Now()); err != nil {
		t.Fatal(err)
	}
	var leaves []Hash
	for _, id := range f.ids {
		c := f.chains[id]
		head := c[len(c)-1]
		leaves = append(leaves, LeafHash(Leaf{id, head.Seq, head.Hash}.Bytes()))
	}
	cp := Checkpoint{ID: 1, Time: time.Now(), TreeSize: int64(len(leaves)), Root: MerkleRoot(leaves)}
	cp.Sign(f.priv)
	var proofs []ExportProof
	for i, id := range f.ids {
		head := f.chains[id][len(f.chains[id])-1]
		path, _ := InclusionProof(leaves, i)
		proofs = append(proofs, ExportProof{EvidenceID: id, Seq: head.Seq, Hash: head.Hash, LeafIndex: int64(i), Path: path})
	}
	if err := x.Checkpoint(cp, proofs); err != nil {
		t.Fatal(err)
	}
	for _, id := range f.ids {
		c := f.chains[id]
		for i := range c {
			if err := x.Event(&c[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// find returns the index of the first line containing s.
func find(lines []string, s string) int {
	for i, l := range lines {
		if strings.Contains(l, s) {
			return i
		}
	}
	panic("no line contains " + s)
}

func TestVerifyExportIntact(t *testing.T) {
	f := newFixture(t, 5, 8)
	rep, err := VerifyExport(bytes.NewReader(f.export(t)), f.pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != 5 || rep.Events != 40 || rep.Checkpoints != 1 || rep.Proofs != 5 || !rep.KeyTrusted || rep.Uncovered != 0 {
		t.Fatalf("report %+v", rep)
	}
	rep, err = VerifyExport(bytes.NewReader(f.export(t)), nil)
	if err != nil || rep.KeyTrusted {
		t.Fatalf("nil key: %+v %v", rep, err)
	}
}

func TestVerifyExportTampered(t *testing.T) {
	tests := []struct {
		name string
		edit func(f *fixture, lines []string) []string
		want string // substring of the first problem
		bad  bool   // malformed rather than unverified
	}{
		{"detail changed", func(f *fixture, l []string) []string {
			i := find(l, `"type":"event"`) + 2
			l[i] = strings.Replace(l[i], `"details":{"n":2}`, `"details":{"n":7}`, 1)
			return l
		}, "seq 3: hash mismatch", false},
		{"event removed", func(f *fixture, l []string) []string {
			i := find(l, `"type":"event"`) + 3
			return append(l[:i], l[i+1:]...)
		}, "seq 4 missing (gap between 3 and 5)", false},
		{"head removed", func(f *fixture, l []string) []string {
			i := find(l, `"type":"event"`) + 7
			return append(l[:i], l[i+1:]...)
		}, "chain ends at seq 7 (events removed)", false},
		{"chain replaced", func(f *fixture, l []string) []string {
			id := f.ids[0]
			forged := buildChain(id, 8)
			forged[1].Actor = "user:mallory"
			prev := forged[1].PrevHash
			for i := 1; i < len(forged); i++ {
				forged[i].PrevHash = prev
				prev = forged[i].Seal()
			}
			var buf bytes.Buffer
			x := NewExportWriter(&buf)
			for i := range forged {
				x.Event(&forged[i])
			}
			x.w.Flush()
			ev := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			first := find(l, `"type":"event"`)
			copy(l[first:first+8], ev)
			return l
		}, "seq 8: does not match checkpoint 1", false},
		{"signature", func(f *fixture, l []string) []string {
			i := find(l, `"type":"checkpoint"`)
			l[i] = strings.Replace(l[i], `"tree_size":5`, `"tree_size":6`, 1)
			return l
		}, "checkpoint 1: signature invalid", false},
		{"truncated", func(f *fixture, l []string) []string { return l[:len(l)-1] }, "export truncated", false},
		{"end count", func(f *fixture, l []string) []string {
			// Drop a whole item's chain and its proof: only the counts show it.
			proof := find(l, `"type":"proof"`)
			first := find(l, `"type":"event"`)
			out := append([]string{}, l[:proof]...)
			out = append(out, l[proof+1:first]...)
			return append(out, l[first+8:]...)
		}, "end line counts", false},
		{"checkpoint after events", func(f *fixture, l []string) []string {
			i, first := find(l, `"type":"checkpoint"`), find(l, `"type":"event"`)
			out := append([]string{}, l[:i]...)
			out = append(out, l[first:len(l)-1]...)
			out = append(out, l[i:first]...)
			return append(out, l[len(l)-1])
		}, "checkpoint after the events", true},
		{"no header", func(f *fixture, l []string) []string { return l[1:] }, "first line must be the header", true},
		{"garbage", func(f *fixture, l []string) []string { l[2] = "{not json"; return l }, "line 3:", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 5, 8)
			lines := strings.Split(strings.TrimSuffix(string(f.export(t)), "\n"), "\n")
			lines = tc.edit(f, lines)
			_, err := VerifyExport(strings.NewReader(strings.Join(lines, "\n")+"\n"), f.pub)
			if err == nil {
				t.Fatal("tampering not detected")
			}
			var ve *VerificationError
			if tc.bad != errors.Is(err, ErrBadExport) || (!tc.bad && !errors.As(err, &ve)) {
				t.Fatalf("error kind: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestVerifyExportUntrustedKey(t *testing.T) {
	f := newFixture(t, 2, 2)
	other, _, _ := ed25519.GenerateKey(nil)
	_, err := VerifyExport(bytes.NewReader(f.export(t)), other)
	if !errors.Is(err, ErrNotVerified) || !strings.Contains(err.Error(), "not the trusted key") {
		t.Fatalf("untrusted key: %v", err)
	}
}

func FuzzVerifyExport(f *testing.F) {
	fx := newFixture(f, 2, 3)
	f.Add(fx.export(f))
	f.Add([]byte(`{"type":"header","format":"opendems-custody-export","version":1}` + "\n"))
	f.Add([]byte(`{"type":"header","format":"opendems-custody-export","version":1}` + "\n" + `{"type":"proof"}`))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyExport(bytes.NewReader(data), nil)
		if err == nil && !rep.OK() {
			t.Fatalf("no error but problems: %+v", rep)
		}
		if err != nil && !errors.Is(err, ErrBadExport) && !errors.Is(err, ErrNotVerified) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}

func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{`{}`, `{"b":1,"a":[1,2.5,"x"]}`, `{"a":{"b":null}}`, `{"n":1e400}`, `{"s":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Canonicalize(data)
		if err != nil {
			return
		}
		again, err := Canonicalize(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", data, out, again, err)
		}
	})
}

// BenchmarkVerify measures offline verification: a whole export (parse,
// re-hash, links, checkpoint signature and proofs), the chain check on
// events already in memory, and as baseline the bare SHA-256 work of one
// hash over the same canonical bytes per event. Rates are given per
// wall-clock second and per CPU-second (the machine is shared).
func BenchmarkVerify(b *testing.B) {
	const items, perItem = 100, 1000
	f := newFixture(b, items, perItem)
	data := f.export(b)
	var events []Event
	for _, id := range f.ids {
		events = append(events, f.chains[id]...)
	}
	b.ResetTimer()
	var wall, cpu [3]time.Duration
	measure := func(k int, fn func()) {
		t0, c0 := time.Now(), cpuTime()
		fn()
		wall[k] += time.Since(t0)
		cpu[k] += cpuTime() - c0
	}
	for i := 0; i < b.N; i++ {
		measure(0, func() {
			if _, err := VerifyExport(bytes.NewReader(data), f.pub); err != nil {
				b.Fatal(err)
			}
		})
		measure(1, func() {
			c := NewChainChecker(false)
			for j := range events {
				if p := c.Check(&events[j]); p != nil {
					b.Fatal(p)
				}
			}
		})
		measure(2, func() {
			var buf []byte
			for j := range events {
				buf = AppendCanonicalEvent(append(buf[:0], events[j].PrevHash[:]...), &events[j])
				sink = sha256Sum(buf)
			}
		})
	}
	n := float64(b.N * items * perItem)
	rate := func(d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return n / d.Seconds()
	}
	b.ReportMetric(rate(wall[0]), "export_events/s")
	b.ReportMetric(rate(cpu[0]), "export_events/cpu-s")
	b.ReportMetric(rate(wall[1]), "chain_events/s")
	b.ReportMetric(rate(cpu[1]), "chain_events/cpu-s")
	b.ReportMetric(rate(wall[2]), "baseline_sha256_events/s")
	b.ReportMetric(rate(cpu[2]), "baseline_sha256_events/cpu-s")
	b.ReportMetric(rate(wall[0])/rate(wall[2]), "ratio_export_vs_baseline")
	b.ReportMetric(float64(len(data))*float64(b.N)/wall[0].Seconds()/1e6, "export_MB/s")
}

var sink Hash

// FuzzEventFastPath checks that the fast event-line parser accepts only
// lines that encoding/json reads identically.
func FuzzEventFastPath(f *testing.F) {
	fx := newFixture(f, 1, 2)
	for _, l := range strings.Split(string(fx.export(f)), "\n")[1:3] {
		f.Add([]byte(l))
	}
	f.Add([]byte(`{"type":"event","evidence_id":"3f2a0000-0000-4000-8000-000000000001","seq":1,"time":"2026-01-02T03:04:05.123456Z","actor":"user:a","action":"viewed","details":{"a":[1,{"b":"}"}]},"prev_hash":"` + strings.Repeat("0", 64) + `","hash":"` + strings.Repeat("a", 64) + `"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var fast Event
		if !parseEventFast(line, &fast, interner{}) {
			return
		}
		var l exportLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("fast path accepted a line encoding/json rejects: %v\n%s", err, line)
		}
		tm, err := ParseTime(l.Time)
		if err != nil || l.Type != LineEvent || l.EvidenceID != fast.EvidenceID || l.Seq != fast.Seq || !tm.Equal(fast.Time) ||
			l.Actor != fast.Actor || l.Action != string(fast.Action) || !bytes.Equal(l.Details, fast.Details) ||
			l.PrevHash != fast.PrevHash || l.Hash != fast.Hash {
			t.Fatalf("paths disagree on %s:\nfast %+v\njson %+v", line, fast, l)
		}
	})
}

// TestExportKeepsDetailBytes: details with characters encoding/json likes
// to escape (<, >, &, U+2028) and an actor with spaces survive the export
// byte for byte, so their hashes verify.
func TestExportKeepsDetailBytes(t *testing.T) {
	f := newFixture(t, 1, 0)
	id := f.ids[0]
	raw, err := Canonicalize([]byte(`{"note":"<b>&amp;</b>\u2028 é \" \\ \u0001","n":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	e := Event{EvidenceID: id, Seq: 1, Time: time.Now(), Actor: "dock:Station 3 <north>", Action: ActionNoteAdded, Details: raw}
	e.Seal()
	f.chains[id] = []Event{e}
	rep, err := VerifyExport(bytes.NewReader(f.export(t)), f.pub)
	if err != nil || rep.Events != 1 || rep.Proofs != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
}

// Events newer than the checkpoint verify (hashes and links) but are
// reported as the unsigned tail, item by item and in total.
func TestVerifyExportReportsUnsignedTail(t *testing.T) {
	f := newFixture(t, 3, 10)
	full := f.chains
	// Sign the chains as they were two events ago.
	f.chains = map[uuid.UUID][]Event{}
	for id, c := range full {
		f.chains[id] = c[:8]
	}
	signed := f.export(t)
	lines := strings.Split(strings.TrimSuffix(string(signed), "\n"), "\n")
	var events []string
	for _, id := range f.ids {
		for i := 8; i < 10; i++ {
			var buf bytes.Buffer
			x := NewExportWriter(&buf)
			if err := x.Event(&full[id][i]); err != nil || x.Close() != nil {
				t.Fatal(err)
			}
			events = append(events, strings.SplitN(buf.String(), "\n", 2)[0])
		}
	}
	// Insert each item's two newer events after its last signed one.
	var out []string
	for _, l := range lines {
		out = append(out, l)
		for k, id := range f.ids {
			if strings.Contains(l, id.String()) && strings.Contains(l, `"seq":8,`) && strings.Contains(l, `"type":"event"`) {
				out = append(out, events[2*k], events[2*k+1])
			}
		}
	}
	end := out[len(out)-1]
	if !strings.Contains(end, `"type":"end"`) {
		t.Fatalf("last line %s", end)
	}
	// The end line counts events: rewrite it to the new count.
	end = strings.Replace(end, `"events":24`, `"events":30`, 1)
	out[len(out)-1] = end
	rep, err := VerifyExport(strings.NewReader(strings.Join(out, "\n")+"\n"), f.pub)
	if err != nil {
		t.Fatalf("%v %+v", err, rep)
	}
	if rep.Events != 30 || rep.UnsignedEvents != 6 || rep.UnsignedItems != 3 || rep.Uncovered != 0 {
		t.Fatalf("report %+v", rep)
	}
}
