package bagit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The bag-info example of RFC 8493 §2.2.2 (abridged), with its folded
// value.
const rfcBagInfo = "Source-Organization: FOO University\n" +
	"Organization-Address: 1 Main St., Cupertino, California, 11111\n" +
	"Contact-Name: Jane Doe\n" +
	"Contact-Phone: +1 111-111-1111\n" +
	"Contact-Email: example@example.com\n" +
	"External-Description: Uncompressed greyscale TIFF images from the\n" +
	"     FOO papers colle...\n" +
	"Bagging-Date: 2008-01-15\n" +
	"External-Identifier: university_foo_001\n" +
	"Payload-Oxum: 279164409832.1198\n" +
	"Bag-Group-Identifier: university_foo\n" +
	"Bag-Count: 1 of 15\n" +
	"Internal-Sender-Identifier: /storage/images/foo\n" +
	"Internal-Sender-Description: Uncompressed greyscale TIFFs created from\n" +
	"     microfilm.\n"

func TestParseInfoRFCExample(t *testing.T) {
	in, err := ParseInfo(BagInfoFile, []byte(rfcBagInfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 13 {
		t.Fatalf("%d elements", len(in))
	}
	if v, _ := in.Get("external-description"); v != "Uncompressed greyscale TIFF images from the     FOO papers colle..." {
		t.Fatalf("folded value %q", v)
	}
	if v, _ := in.Get("Payload-Oxum"); v != "279164409832.1198" {
		t.Fatalf("oxum %q", v)
	}
	// CR and CRLF line endings are allowed too (§2.2.2).
	for _, eol := range []string{"\r", "\r\n"} {
		in2, err := ParseInfo(BagInfoFile, []byte(strings.ReplaceAll(rfcBagInfo, "\n", eol)))
		if err != nil || len(in2) != len(in) || in2[5] != in[5] {
			t.Fatalf("eol %q: %v %v", eol, err, in2)
		}
	}
}

func TestFormatInfoFoldsAndRoundTrips(t *testing.T) {
	long := strings.Repeat("word ", 60) + "end"
	in := Info{{"Internal-Sender-Description", long}, {"X", strings.Repeat("n", 120)}, {"Y", "a  b" + strings.Repeat(" c", 50)}}
	data, err := FormatInfo(in)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for _, l := range lines {
		if len(l) > 79 && !strings.HasPrefix(l, "X: ") {
			t.Errorf("line longer than 79: %q", l)
		}
	}
	back, err := ParseInfo(BagInfoFile, data)
	if err != nil || len(back) != 3 || back[0] != in[0] || back[1] != in[1] || back[2] != in[2] {
		t.Fatalf("round trip: %v\n%q", err, back)
	}
}

func TestParseBagIt(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", true},
		{"BagIt-Version: 0.97\r\nTag-File-Character-Encoding: UTF-8\r\n", true},
		{"BagIt-Version: 2.0\nTag-File-Character-Encoding: UTF-8\n", false},
		{"BagIt-Version: 1.0\nTag-File-Character-Encoding: ISO-8859-1\n", false},
		{"Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n", false},
		{"BagIt-Version:1.0\nTag-File-Character-Encoding: UTF-8\n", false},
		{"", false},
	} {
		_, err := ParseBagIt([]byte(c.in))
		if (err == nil) != c.ok {
			t.Errorf("%q: %v", c.in, err)
		}
	}
}

func TestPathEncoding(t *testing.T) {
	for _, p := range []string{"data/a b.txt", "data/100%.txt", "data/line\nbreak\r.txt", "data/%0A.txt", "data/ünï.txt"} {
		enc := EncodePath(p)
		if strings.ContainsAny(enc, "\r\n") {
			t.Errorf("%q encoded to %q", p, enc)
		}
		if dec, err := DecodePath(enc); err != nil || dec != p {
			t.Errorf("%q -> %q -> %q %v", p, enc, dec, err)
		}
	}
	if EncodePath("data/100%.txt") != "data/100%25.txt" || EncodePath("a\nb") != "a%0Ab" {
		t.Error("encoding is not the RFC's")
	}
	for _, bad := range []string{"data/50%", "data/%zz", "data/%4"} {
		if _, err := DecodePath(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestParseManifest(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	good := sum + " data/a b.txt\n" + sum + "\t\tdata/line%0Abreak\n" + strings.ToUpper(sum) + "  data/100%25\n"
	es, err := ParseManifest("manifest-sha256.txt", "sha256", []byte(good), true)
	if err != nil || len(es) != 3 || es[1].Path != "data/line\nbreak" || es[2].Path != "data/100%" || es[2].Line != 3 {
		t.Fatalf("%v %+v", err, es)
	}
	for _, c := range []struct {
		body string
		line int
	}{
		{sum + " data/a\n" + sum[:63] + " data/b\n", 2},
		{sum + " data/a\n" + sum + " data/a\n", 2},
		{sum + " ../etc/passwd\n", 1},
		{sum + " data/../../x\n", 1},
		{sum + " bag-info.txt\n", 1},
		{sum + " /data/x\n", 1},
		{sum + "\n", 1},
		{strings.Repeat("zz", 32) + " data/x\n", 1},
		{sum + " data/x%\n", 1},
	} {
		_, err := ParseManifest("manifest-sha256.txt", "sha256", []byte(c.body), true)
		var le *LineError
		if !errors.As(err, &le) || le.Line != c.line || !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v", c.body, err)
		}
	}
	if _, err := ParseManifest("tagmanifest-sha256.txt", "sha256", []byte(sum+" data/x\n"), false); err == nil {
		t.Error("tag manifest listing payload accepted")
	}
}

func TestSignatureCanonical(t *testing.T) {
	s := Signature{KeyID: "0011223344556677", Entries: []SignatureEntry{{File: "tagmanifest-sha256.txt", Sig: bytes.Repeat([]byte{1}, 64)}}}
	data := s.Format()
	if _, err := ParseSignature(data); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{append(bytes.Clone(data), '\n'), bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")), bytes.Replace(data, []byte(": "), []byte(":  "), 1)} {
		if _, err := ParseSignature(bad); err == nil {
			t.Errorf("non-canonical accepted: %q", bad)
		}
	}
}

// Fuzz targets: the parsers must never panic, and what they accept must
// be written back and re-read to the same thing.

func FuzzParseInfo(f *testing.F) {
	f.Add([]byte(rfcBagInfo))
	f.Add([]byte("BagIt-Version: 1.0\r\nTag-File-Character-Encoding: UTF-8\r\n"))
	f.Add([]byte(" continuation first\n"))
	f.Add([]byte("A: b\n\tc\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseInfo(BagInfoFile, data)
		if err != nil {
			return
		}
		out, err := FormatInfo(in)
		if err != nil {
			return // e.g. values with surrounding white space are read but not written
		}
		back, err := ParseInfo(BagInfoFile, out)
		if err != nil || len(back) != len(in) {
			t.Fatalf("re-read %q: %v", out, err)
		}
		for i := range in {
			if back[i] != in[i] {
				t.Fatalf("element %d: %q != %q", i, back[i], in[i])
			}
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	sum := strings.Repeat("0f", 32)
	f.Add([]byte(sum+" data/a b.txt\n"+sum+"\tdata/100%25\r\n"), true)
	f.Add([]byte(sum+" bagit.txt\n"), false)
	f.Add([]byte(sum+" data/%0D%0A\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, payload bool) {
		es, err := ParseManifest("m", "sha256", data, payload)
		if err != nil {
			return
		}
		var b bytes.Buffer
		for _, e := range es {
			if CheckPath(e.Path) != nil {
				t.Fatalf("accepted bad path %q", e.Path)
			}
			formatManifestLine(&b, e.Sum, e.Path)
		}
		back, err := ParseManifest("m", "sha256", b.Bytes(), payload)
		if err != nil || len(back) != len(es) {
			t.Fatalf("re-read: %v", err)
		}
		for i := range es {
			if back[i].Path != es[i].Path || !bytes.Equal(back[i].Sum, es[i].Sum) {
				t.Fatalf("entry %d differs", i)
			}
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	f.Add(Signature{KeyID: "00", Entries: []SignatureEntry{{File: "tagmanifest-sha256.txt", Sig: make([]byte, 64)}}}.Format())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSignature(data)
		if err == nil && !bytes.Equal(s.Format(), data) {
			t.Fatal("accepted a non-canonical signature file")
		}
	})
}

// FuzzVerifyZip feeds arbitrary bytes to the ZIP reader, the layout
// check and the verifier: they must report, never panic or hang.
func FuzzVerifyZip(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewZipWriter(&buf, "r", Options{SigningKey: testKey(), Now: testOptions().Now})
	w.AddPayload(context.Background(), "a.txt", strings.NewReader("alpha\n"))
	w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "f.zip")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := Open(path)
		if err != nil {
			return
		}
		defer b.Close()
		Verify(context.Background(), b, VerifyOptions{RequireSignature: true})
	})
}
