package releasepkg

import (
	"bytes"
	"fmt"
	"strings"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
)

// Letter fonts: the Go fonts (BSD licence, golang.org/x/image/font/gofont),
// embedded as TrueType CID fonts (Type0, Identity-H, glyph widths, a
// ToUnicode CMap, subset to the characters used) so names in any script
// the fonts cover print as written and text extraction gives them back.
// The Go fonts cover Latin, Greek and Cyrillic (WGL4), not CJK: a
// character they lack prints as the .notdef box but extracts as
// the right character (its code is the Unicode code point). Only the
// Basic Multilingual Plane is encoded; characters beyond it (emoji) are
// replaced by U+FFFD.
const (
	fontText = "Go"
	fontMono = "GoMono"
)

// renderLetter writes the response letter as PDF: the caller's text, then
// what was released (with SHA-256), what was withheld and why, and how to
// verify the package. The fonts are embedded (see fontText); every fact of the letter is also in release.json.
func renderLetter(spec *Spec, idx *Index) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(bmpOnly("Response to request "+spec.RequestNumber), true)
	pdf.SetAuthor(bmpOnly(spec.Agency.Name), true)
	pdf.SetCreator("OpenDEMS", true)
	pdf.SetCreationDate(spec.Now)
	pdf.SetModificationDate(spec.Now)
	pdf.SetMargins(22, 20, 22)
	pdf.SetAutoPageBreak(true, 20)
	pdf.AddUTF8FontFromBytes(fontText, "", goregular.TTF)
	pdf.AddUTF8FontFromBytes(fontText, "B", gobold.TTF)
	pdf.AddUTF8FontFromBytes(fontMono, "", gomono.TTF)
	text := bmpOnly
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-14)
		pdf.SetFont(fontText, "", 8)
		pdf.CellFormat(0, 5, text(fmt.Sprintf("%s - request %s - release %s - page %d of {nb}",
			spec.Agency.Name, spec.RequestNumber, spec.ReleaseID, pdf.PageNo())), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	w := 210.0 - 44

	pdf.SetFont(fontText, "B", 14)
	pdf.MultiCell(w, 7, text(spec.Agency.Name), "", "L", false)
	pdf.SetFont(fontText, "", 9)
	for _, l := range spec.Agency.Address {
		pdf.MultiCell(w, 4.5, text(l), "", "L", false)
	}
	pdf.MultiCell(w, 4.5, text(spec.Agency.ContactEmail), "", "L", false)
	pdf.Ln(6)
	pdf.SetFont(fontText, "", 10)
	pdf.MultiCell(w, 5, spec.Now.Format("2 January 2006"), "", "L", false)
	pdf.Ln(3)
	if spec.Requester.Name != "" {
		pdf.MultiCell(w, 5, text(spec.Requester.Name), "", "L", false)
		for _, l := range spec.Requester.Address {
			pdf.MultiCell(w, 5, text(l), "", "L", false)
		}
		if spec.Requester.Email != "" {
			pdf.MultiCell(w, 5, text(spec.Requester.Email), "", "L", false)
		}
		pdf.Ln(4)
	}
	subject := spec.Letter.Subject
	if subject == "" {
		subject = "Your public records request " + spec.RequestNumber
	}
	pdf.SetFont(fontText, "B", 11)
	pdf.MultiCell(w, 6, text("Re: "+subject), "", "L", false)
	pdf.Ln(2)
	pdf.SetFont(fontText, "", 10)
	for _, p := range spec.Letter.Paragraphs {
		pdf.MultiCell(w, 5, text(p), "", "L", false)
		pdf.Ln(2.5)
	}

	heading := func(s string) {
		pdf.Ln(2)
		pdf.SetFont(fontText, "B", 10.5)
		pdf.MultiCell(w, 6, text(s), "", "L", false)
		pdf.SetFont(fontText, "", 9)
	}
	heading(fmt.Sprintf("Recordings released (%d)", len(idx.Clips)))
	if len(idx.Clips) == 0 {
		pdf.MultiCell(w, 5, "None.", "", "L", false)
	}
	for _, c := range idx.Clips {
		pdf.SetFont(fontText, "B", 9)
		pdf.MultiCell(w, 4.8, text(fmt.Sprintf("%s (%s)", strings.TrimPrefix(c.File, "data/"), humanSize(c.Size))), "", "L", false)
		pdf.SetFont(fontMono, "", 8)
		pdf.MultiCell(w, 4, "SHA-256 "+c.SHA256, "", "L", false)
		pdf.SetFont(fontText, "", 8.5)
		pdf.MultiCell(w, 4.2, text("Redaction report: "+strings.TrimPrefix(c.ReportJSON, "data/")+" and .csv; source item "+c.SourceEvidenceID), "", "L", false)
		pdf.Ln(1.5)
	}
	heading(fmt.Sprintf("Items withheld (%d)", len(spec.Withheld)))
	if len(spec.Withheld) == 0 {
		pdf.MultiCell(w, 5, "None.", "", "L", false)
	}
	for _, it := range spec.Withheld {
		line := fmt.Sprintf("%s - exemption %s", orDefault(it.Description, it.EvidenceID), strings.Join(it.Exemptions, ", "))
		if it.Note != "" {
			line += ": " + it.Note
		}
		pdf.MultiCell(w, 4.8, text(line), "", "L", false)
	}
	heading("Verifying this package")
	pdf.MultiCell(w, 4.6, text(fmt.Sprintf("This letter is part of a BagIt package (RFC 8493) signed with our Ed25519 key %s. "+
		"Every file is listed with its SHA-256 and SHA-512 in the package's manifests; the custody record of each source "+
		"recording, with our signed checkpoints, is in data/custody/. To check the whole package offline, run "+
		"\"dems verify PACKAGE.zip\" (OpenDEMS), or validate it with any BagIt tool and check signature-ed25519.txt "+
		"with the public key we publish.", idx.KeyID)), "", "L", false)
	pdf.Ln(6)
	pdf.SetFont(fontText, "", 10)
	if spec.Letter.Signatory != "" {
		pdf.MultiCell(w, 5, text(spec.Letter.Signatory), "", "L", false)
	}
	if spec.Letter.Title != "" {
		pdf.MultiCell(w, 5, text(spec.Letter.Title), "", "L", false)
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, fmt.Errorf("release package: letter: %w", err)
	}
	return b.Bytes(), nil
}

// bmpOnly replaces characters beyond the Basic Multilingual Plane, which
// the embedded fonts' 16-bit character codes cannot carry, control
// characters and invalid UTF-8 by U+FFFD.
func bmpOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r > 0xFFFF || (r < 0x20 && r != '\t') || r == 0x7F {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
