package releasepkg

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
)

// unicodeLetter is a letter whose names and text are outside
// Windows-1252: Latin with diacritics, Polish, Greek, Cyrillic, and CJK
// (which the Go fonts do not cover).
func unicodeLetter(t *testing.T) []byte {
	t.Helper()
	spec := &Spec{
		ReleaseID: "7e1ea5e0-0000-4000-8000-000000000001", RequestNumber: "REQ-2026-0042",
		Agency:    Agency{Name: "Straż Miejska Łódź", ContactEmail: "records@example.org", Address: []string{"ul. Piotrkowska 104", "90-926 Łódź"}},
		Requester: Requester{Name: "Zoë Łukasiewicz", Email: "zoe@example.org", Address: []string{"Ωmega Straße 5", "Санкт-Петербург"}},
		Letter: Letter{Subject: "Ваш запрос — Ωmega", Paragraphs: []string{
			"Dear Zoë Łukasiewicz, enclosed are the recordings of the stop involving Ωmega Ярослав Ковальчук.",
			"Witness 王小明 is withheld.",
			"A rocket 🚀 leaves the plane.",
		}, Signatory: "Åsa Øster-Ñúñez", Title: "Public Records Unit"},
		Withheld: []WithheldItem{{EvidenceID: "item-1", Description: "Zeugenaussage Jürgen Groß", Exemptions: []string{"b6"}, Note: "Privatsphäre"}},
		Now:      time.Date(2026, 12, 7, 15, 4, 5, 0, time.UTC),
	}
	idx := &Index{KeyID: "b600306cfa76723f", Clips: []IndexClip{{File: "data/clips/cam01.mp4", Size: 1234,
		SHA256: strings.Repeat("ab", 32), ReportJSON: "data/reports/cam01.mp4.redaction.json", SourceEvidenceID: "item-0"}}}
	pdf, err := renderLetter(spec, idx)
	if err != nil {
		t.Fatal(err)
	}
	return pdf
}

// TestLetterUnicode: names in Polish, German, Greek, Cyrillic and CJK are
// extracted exactly by poppler's pdftotext (an independent reader, through
// the ToUnicode CMap); the fonts are embedded CID TrueType fonts with
// Unicode maps (pdffonts); the PDF passes qpdf --check; the font covers
// the test names and lacks CJK, which prints as .notdef but extracts.
func TestLetterUnicode(t *testing.T) {
	pdf := unicodeLetter(t)
	file := filepath.Join(t.TempDir(), "letter.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext (poppler-utils, installed by .ci/deps.sh test): %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"Zoë Łukasiewicz", "Straż Miejska Łódź", "Ωmega Straße 5", "Санкт-Петербург",
		"Re: Ваш запрос — Ωmega", "Ωmega Ярослав Ковальчук", "Witness 王小明 is withheld.", "Åsa Øster-Ñúñez",
		"Zeugenaussage Jürgen Groß", "Privatsphäre", "A rocket \uFFFD leaves", "SHA-256 " + strings.Repeat("ab", 32)} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "?") {
		t.Errorf("a character became '?':\n%s", text)
	}

	// Every font embedded, as CID TrueType with a Unicode map.
	fonts, err := exec.Command("pdffonts", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdffonts: %v\n%s", err, fonts)
	}
	rows := 0
	for _, l := range strings.Split(string(fonts), "\n")[2:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		rows++
		// Columns: type, encoding, emb, sub, uni. fpdf subsets the font
		// (TestLetterSize) but names it without the ABCDEF+ tag that
		// pdffonts reads "sub" from.
		if !regexp.MustCompile(`CID TrueType\s+Identity-H\s+yes\s+(yes|no)\s+yes`).MatchString(l) {
			t.Errorf("font not an embedded CID TrueType with a ToUnicode map: %s", l)
		}
	}
	if rows != 3 {
		t.Errorf("fonts: %d, want 3 (regular, bold, mono):\n%s", rows, fonts)
	}
	check := exec.Command("qpdf", "--check", file)
	if out, err := check.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("No syntax or stream encoding errors")) {
		t.Fatalf("qpdf --check (installed by .ci/deps.sh test): %v\n%s", err, out)
	}

	// What the Go font covers: the names above, not CJK (a .notdef box).
	f, err := sfnt.Parse(goregular.TTF)
	if err != nil {
		t.Fatal(err)
	}
	var buf sfnt.Buffer
	for _, r := range "Zoë Łukasiewicz Ωmega Ярослав Ñúñez Straße" {
		if gi, err := f.GlyphIndex(&buf, r); err != nil || gi == 0 {
			t.Errorf("Go Regular lacks %q", r)
		}
	}
	for _, r := range "王小明" {
		if gi, _ := f.GlyphIndex(&buf, r); gi != 0 {
			t.Errorf("Go Regular has %q: update the note on uncovered glyphs", r)
		}
	}
}

// TestLetterSize: the fonts are subset, so a letter stays small.
func TestLetterSize(t *testing.T) {
	if n := len(unicodeLetter(t)); n > 120<<10 {
		t.Fatalf("letter is %d bytes: are the fonts still subset?", n)
	}
}

// FuzzLetterText: any text makes a PDF that poppler reads.
func FuzzLetterText(f *testing.F) {
	f.Add("Zoë Łukasiewicz 王小明 Ωmega")
	f.Add("\x00\x01\t\r\n\uFFFF\U0001F680")
	f.Add(string([]byte{0xff, 0xfe, 0x80}))
	f.Fuzz(func(t *testing.T, s string) {
		spec := &Spec{RequestNumber: "R-1", Agency: Agency{Name: s}, Requester: Requester{Name: s},
			Letter: Letter{Subject: s, Paragraphs: []string{s}}, Now: time.Unix(0, 0).UTC()}
		if _, err := renderLetter(spec, &Index{KeyID: s}); err != nil {
			t.Fatalf("letter of %q: %v", s, err)
		}
	})
}
