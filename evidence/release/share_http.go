package release

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/web"
)

// shareRoutes: the records officer's API and page for links (on the
// loaded release), and the recipient's public page and downloads (the
// token is the only credential; declared public in the route table).
func (s *Service) shareRoutes() []api.Route {
	onRelease := func(action, summary string) api.Access {
		return api.Access{Action: action, Resource: KindRelease, Param: "release", Summary: summary}
	}
	page := func(action, summary string) api.Access {
		return api.Access{Page: true, Action: action, Resource: KindRelease, Param: "release", Summary: "Web UI: " + summary}
	}
	public := func(summary string) api.Access { return api.Access{Public: true, MaxBody: 4 << 10, Summary: summary} }
	const rel = "/api/v1/releases/:release/shares"
	return []api.Route{
		{Method: "GET", Path: rel, Access: onRelease("request:read", "Share links of a release with their activity"), Handler: s.listShares, Op: "listShares", Out: ShareList{}},
		{Method: "POST", Path: rel, Access: onRelease("release:create", "Create a share link {recipient, expires_in_days|expires_at, passcode?, max_downloads?}; the token is shown once"), Handler: s.createShare, Op: "createShare", In: ShareInput{}, Out: CreatedShare{}, Status: http.StatusCreated},
		{Method: "GET", Path: rel + "/:share", Access: onRelease("request:read", "One share link and every view and download of it"), Handler: s.getShare, Op: "getShare", Out: ShareActivity{}},
		{Method: "POST", Path: rel + "/:share/revoke", Access: onRelease("release:create", "Revoke a share link {reason}; its recipient gets 410"), Handler: s.revokeShare, Op: "revokeShare", In: RevokeInput{}, Out: Share{}},
		{Method: "GET", Path: "/releases/:release/shares", Access: page("request:read", "share links of a release: activity and revoke"), Handler: s.sharesPage, Op: "pageReleaseShares", OutContent: "text/html"},
		{Method: "POST", Path: "/releases/:release/shares/:share/revoke", Access: page("release:create", "revoke a share link"), Handler: s.revokeSharePage, Op: "pageRevokeShare", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},

		{Method: "GET", Path: "/share/:token", Access: public("Recipient page of a share link (no account): summary, files with sizes and SHA-256, downloads"), Handler: s.recipientPage, Op: "pageShareRecipient", OutContent: "text/html"},
		{Method: "POST", Path: "/share/:token", Access: public("Recipient passcode form (401 when wrong, locked after repeated failures)"), Handler: s.recipientUnlock, Op: "pageShareUnlock", InContent: "application/x-www-form-urlencoded", OutContent: "text/html"},
		{Method: "GET", Path: "/share/:token/package", Access: public("Download the whole package through a share link (HTTP Range, resumable)"), Handler: s.recipientPackage, Op: "shareDownloadPackage", OutContent: "application/zip", Also: []int{http.StatusPartialContent}},
		{Method: "GET", Path: "/share/:token/files/*file", Access: public("Download one file of the package through a share link (HTTP Range, resumable)"), Handler: s.recipientFile, Op: "shareDownloadFile", OutContent: "*/*", Also: []int{http.StatusPartialContent}},
		{Method: "GET", Path: "/api/v1/public/shares/:token", Access: public("A share link's summary as JSON (passcode in X-Share-Passcode)"), Handler: s.recipientJSON, Op: "publicGetShare", Query: RecipientQuery{}, Out: RecipientView{}},
	}
}

// ShareURL is the recipient's address of a token.
func (s *Service) ShareURL(token string) string {
	return strings.TrimRight(s.settings.PublicURL, "/") + "/share/" + token
}

func (s *Service) listShares(c *gin.Context) {
	out, err := s.Shares(c.Request.Context(), releaseOf(c).ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	if out == nil {
		out = []Share{}
	}
	c.JSON(http.StatusOK, ShareList{Shares: out})
}

func (s *Service) createShare(c *gin.Context) {
	var in ShareInput
	if !api.Bind(c, &in) {
		return
	}
	sh, token, err := s.CreateShare(c.Request.Context(), releaseOf(c), actorOf(c), in)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, CreatedShare{Share: sh, Token: token, URL: s.ShareURL(token),
		Note: "the token is shown only now; the agency keeps only its hash"})
}

func (s *Service) shareParam(c *gin.Context) (Share, bool) {
	id, ok := param(c, "share")
	if !ok {
		return Share{}, false
	}
	sh, err := s.Share(c.Request.Context(), releaseOf(c).ID, id)
	if err != nil {
		api.WriteError(c, err)
		return sh, false
	}
	return sh, true
}

func (s *Service) getShare(c *gin.Context) {
	sh, ok := s.shareParam(c)
	if !ok {
		return
	}
	evs, err := s.ShareEvents(c.Request.Context(), sh.ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	if evs == nil {
		evs = []ShareEvent{}
	}
	c.JSON(http.StatusOK, ShareActivity{Share: sh, Events: evs})
}

func (s *Service) revokeShare(c *gin.Context) {
	id, ok := param(c, "share")
	if !ok {
		return
	}
	var in RevokeInput
	if !api.Bind(c, &in) {
		return
	}
	sh, err := s.RevokeShare(c.Request.Context(), releaseOf(c), id, actorOf(c), in.Reason)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, sh)
}

// staffShare is one link with its recent activity, for the staff page.
type staffShare struct {
	Share
	Events []ShareEvent
}

func (s *Service) sharesPage(c *gin.Context) {
	rel := releaseOf(c)
	ctx := c.Request.Context()
	shares, err := s.Shares(ctx, rel.ID)
	if err != nil {
		s.pageError(c, err)
		return
	}
	var rows []staffShare
	for _, sh := range shares {
		evs, err := s.ShareEvents(ctx, sh.ID)
		if err != nil {
			s.pageError(c, err)
			return
		}
		rows = append(rows, staffShare{Share: sh, Events: evs})
	}
	var csrf string
	if sess, ok := api.SessionOf(c); ok {
		csrf = sess.CSRFToken
	}
	s.render(c, http.StatusOK, "staff", map[string]any{"Release": rel, "Shares": rows, "CSRF": csrf,
		"CanRevoke": api.Can(c, "release:create", ptr(rel.Attributes())), "Flash": c.Query("done")})
}

func ptr[T any](v T) *T { return &v }

func (s *Service) revokeSharePage(c *gin.Context) {
	rel := releaseOf(c)
	id, err := uuid.Parse(c.Param("share"))
	if err != nil {
		s.pageError(c, evidence.NotFound("share link"))
		return
	}
	if _, err := s.RevokeShare(c.Request.Context(), rel, id, actorOf(c), c.PostForm("reason")); err != nil {
		s.pageError(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/releases/"+rel.ID.String()+"/shares?done=revoked")
}

// recipient resolves the token of a public request and checks the
// passcode (cookie set by the form, or X-Share-Passcode). ok false means
// the answer was written (html selects a page or JSON).
func (s *Service) recipient(c *gin.Context, html, exhaustedOK bool) (*Share, *Release, bool) {
	ctx := c.Request.Context()
	sh, rel, err := s.resolve(ctx, c.Param("token"), exhaustedOK)
	if err != nil {
		var gone *ShareGoneError
		if errors.As(err, &gone) && sh.ID != uuid.Nil {
			_ = s.recordShare(ctx, &sh, nil, ShareEvent{Kind: "refused", File: whatOf(c), Address: c.ClientIP(),
				Agent: c.Request.UserAgent(), Detail: gone.Error()})
		}
		s.recipientError(c, html, err, nil)
		return nil, nil, false
	}
	if sh.HasPasscode {
		if v, _ := c.Cookie(unlockCookie); v != "" && v == s.unlockValue(&sh) {
			return &sh, &rel, true
		}
		ev := ShareEvent{File: whatOf(c), Address: c.ClientIP(), Agent: c.Request.UserAgent()}
		if err := s.checkPasscode(ctx, &sh, c.GetHeader("X-Share-Passcode"), ev); err != nil {
			s.recipientError(c, html, err, &sh)
			return nil, nil, false
		}
	}
	return &sh, &rel, true
}

const unlockCookie = "dems_share"

func (s *Service) recipientError(c *gin.Context, html bool, err error, sh *Share) {
	if !html {
		var pe *PasscodeError
		if errors.As(err, &pe) {
			code := "passcode_required"
			if pe.Locked {
				code = "passcode_locked"
			} else if !pe.Missing {
				code = "passcode_wrong"
			}
			api.WriteError(c, &evidence.Error{Kind: evidence.ErrUnauthenticated, Code: code, Msg: pe.Error()})
			return
		}
		api.WriteError(c, err)
		return
	}
	status, msg := api.StatusOf(err)
	var pe *PasscodeError
	if errors.As(err, &pe) {
		data := map[string]any{"Token": c.Param("token"), "Recipient": sh.Recipient}
		// A staff member opening the link in a logged-in browser posts
		// with their session cookie, which the kit checks for CSRF.
		if sess, ok := api.SessionOf(c); ok {
			data["CSRF"] = sess.CSRFToken
		}
		if !pe.Missing {
			data["Error"] = pe.Error()
		}
		s.render(c, http.StatusUnauthorized, "passcode", data)
		return
	}
	title := "Link not found"
	switch status {
	case http.StatusGone:
		title = "This link no longer works"
	case http.StatusConflict:
		title = "Download not available now"
	case http.StatusNotFound:
		msg = "No release is shared under this address. Check that you copied the whole link."
	}
	s.render(c, status, "gone", map[string]any{"Title": title, "Message": msg})
}

func (s *Service) recipientPage(c *gin.Context) {
	sh, rel, ok := s.recipient(c, true, true)
	if !ok {
		return
	}
	if err := s.recordView(c.Request.Context(), sh, rel, ShareEvent{File: whatOf(c), Address: c.ClientIP(), Agent: c.Request.UserAgent()}); err != nil {
		s.pageError(c, err)
		return
	}
	s.render(c, http.StatusOK, "recipient", map[string]any{"Share": sh, "Release": rel, "Token": c.Param("token")})
}

func (s *Service) recipientUnlock(c *gin.Context) {
	ctx := c.Request.Context()
	sh, _, err := s.resolve(ctx, c.Param("token"), true)
	if err != nil {
		s.recipientError(c, true, err, nil)
		return
	}
	if sh.HasPasscode {
		ev := ShareEvent{File: whatOf(c), Address: c.ClientIP(), Agent: c.Request.UserAgent()}
		if err := s.checkPasscode(ctx, &sh, c.PostForm("passcode"), ev); err != nil {
			s.recipientError(c, true, err, &sh)
			return
		}
		http.SetCookie(c.Writer, &http.Cookie{Name: unlockCookie, Value: s.unlockValue(&sh), Path: "/share/" + c.Param("token"),
			HttpOnly: true, Secure: c.Request.TLS != nil, SameSite: http.SameSiteStrictMode, Expires: sh.ExpiresAt})
	}
	c.Redirect(http.StatusSeeOther, "/share/"+c.Param("token"))
}

func (s *Service) recipientJSON(c *gin.Context) {
	sh, rel, ok := s.recipient(c, false, true)
	if !ok {
		return
	}
	if err := s.recordView(c.Request.Context(), sh, rel, ShareEvent{File: whatOf(c), Address: c.ClientIP(), Agent: c.Request.UserAgent()}); err != nil {
		api.WriteError(c, err)
		return
	}
	base := "/share/" + c.Param("token")
	files := make([]RecipientFile, 0, len(rel.Files))
	for _, f := range rel.Files {
		files = append(files, RecipientFile{Path: f.Path, Size: f.Size, SHA256: f.SHA256, URL: base + "/files/" + f.Path})
	}
	c.JSON(http.StatusOK, RecipientView{Recipient: sh.Recipient, Request: rel.TrackingNumber, ReleaseID: rel.ID,
		ReleasedAt: rel.ReleasedAt, ExpiresAt: sh.ExpiresAt, KeyID: rel.KeyID, Status: sh.Status,
		Package: RecipientPackage{Name: rel.PackageName, Size: rel.PackageSize, SHA256: rel.PackageSHA256, URL: base + "/package"},
		Files:   files})
}

func (s *Service) recipientPackage(c *gin.Context) { s.recipientDownload(c, "") }

func (s *Service) recipientFile(c *gin.Context) {
	s.recipientDownload(c, strings.TrimPrefix(c.Param("file"), "/"))
}

// recipientDownload serves the package or one payload file with Range.
// The link's download limit counts whole files, not responses: each
// response's bytes are added to the file's current download, which counts
// once when they cover the file (admitDownload, finishDownload).
func (s *Service) recipientDownload(c *gin.Context, file string) {
	// Past the limit the link still resolves: admitDownload lets a
	// download in progress finish and refuses a new one.
	sh, rel, ok := s.recipient(c, true, true)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	ref, err := rel.PackageRef()
	if err != nil {
		s.recipientError(c, true, err, sh)
		return
	}
	e := entry{offset: 0, size: rel.PackageSize}
	name, label, ctype := rel.PackageName, "package", "application/zip"
	if file != "" {
		if e, err = s.payloadEntry(ctx, rel, ref, file); err != nil {
			s.recipientError(c, true, err, sh)
			return
		}
		name, label, ctype = path.Base(file), file, contentType(file)
	}
	rangeHeader := c.GetHeader("Range")
	ev := ShareEvent{File: label, Range: rangeHeader, Address: c.ClientIP(), Agent: c.Request.UserAgent()}
	started, err := s.admitDownload(ctx, sh, label, e.size)
	if err != nil {
		ev.Kind, ev.Detail = "refused", err.Error()
		var gone *ShareGoneError
		var busy *DownloadBusyError
		if errors.As(err, &gone) || errors.As(err, &busy) {
			_ = s.recordShare(ctx, sh, rel, ev)
		}
		s.recipientError(c, true, err, sh)
		return
	}
	// Several ranges in one request (multipart/byteranges) are answered
	// with the whole file, as RFC 9110 §14.2 allows: download tools and
	// players ask for one range at a time, and one range per response
	// keeps the count of bytes served exact.
	if strings.Contains(rangeHeader, ",") {
		c.Request.Header.Del("Range")
		ev.Detail = "several ranges asked: whole file sent"
	}
	rd := &sectionReader{ctx: ctx, store: s.store, ref: ref, base: e.offset, n: e.size}
	defer rd.Close()
	c.Header("Content-Type", ctype)
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, name))
	at := rel.CreatedAt
	if rel.ReleasedAt != nil {
		at = *rel.ReleasedAt
	}
	http.ServeContent(c.Writer, c.Request, "", at, rd)
	sv := servedOf(c.Writer.Status(), c.Writer.Header().Get("Content-Range"), int64(c.Writer.Size()))
	sv.started = started
	ev.Bytes, ev.Complete = sv.bytes, sv.start == 0 && sv.bytes == e.size
	if st := c.Writer.Status(); st != http.StatusOK && st != http.StatusPartialContent {
		ev.Detail = fmt.Sprintf("answered %d", st)
	}
	// Recorded even when the recipient went away half way: the bytes that
	// left are what the record says and what counts toward the download.
	if err := s.finishDownload(context.WithoutCancel(ctx), sh, rel, label, sv, ev); err != nil {
		s.log.Error("share download not recorded", "share", sh.ID, "file", label, "bytes", sv.bytes, "err", err)
	}
}

// servedOf is the part of the file a response carried: from the start of
// its Content-Range (206) or of the file (200), as many bytes as were
// written. Other answers (304, 416) carried none of the file.
func servedOf(status int, contentRange string, written int64) served {
	if written < 0 {
		written = 0
	}
	switch status {
	case http.StatusOK:
		return served{start: 0, bytes: written}
	case http.StatusPartialContent:
		var first, last, size int64
		if _, err := fmt.Sscanf(contentRange, "bytes %d-%d/%d", &first, &last, &size); err == nil && first >= 0 && last >= first {
			return served{start: first, bytes: min(written, last-first+1)}
		}
	}
	return served{}
}

// whatOf names what a recipient request asked for without its token
// (records keep only the token's hash): page, summary, package or the
// file's path.
func whatOf(c *gin.Context) string {
	switch {
	case c.Param("file") != "":
		return strings.TrimPrefix(c.Param("file"), "/")
	case strings.HasSuffix(c.FullPath(), "/package"):
		return "package"
	case strings.HasPrefix(c.FullPath(), "/api/"):
		return "summary"
	}
	return "page"
}

func contentType(p string) string {
	switch strings.ToLower(path.Ext(p)) {
	case ".mp4":
		return "video/mp4"
	case ".json":
		return "application/json"
	case ".jsonl":
		return "application/jsonl"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".pdf":
		return "application/pdf"
	}
	return "application/octet-stream"
}

// pageError answers a staff page (review, share links) that failed.
func (s *Service) pageError(c *gin.Context, err error) {
	status, msg := api.StatusOf(err)
	s.render(c, status, "problem", map[string]any{"Title": http.StatusText(status), "Message": msg})
}

// pageMeta is each page's title and kind: public pages are the share
// link recipient's (no staff navigation, the agency's name as brand).
var pageMeta = map[string]struct {
	title, nav string
	public     bool
}{
	"recipient": {title: "Records release", public: true},
	"passcode":  {title: "Passcode required", public: true},
	"gone":      {public: true},
	"staff":     {title: "Share links", nav: "requests"},
	"review":    {title: "Review and release", nav: "requests"},
	"problem":   {nav: "requests"},
}

// render shows a page of this package in the app's layout (web.Shell).
func (s *Service) render(c *gin.Context, status int, name string, data map[string]any) {
	data["Agency"] = s.settings.Agency
	meta := pageMeta[name]
	title := meta.title
	if t, ok := data["Title"].(string); ok {
		title = t
	}
	pages.Render(c, name, web.ShellPage{Title: title, Nav: meta.nav, Public: meta.public, Brand: s.settings.Agency.Name,
		Status: status, Data: data})
}

var pages = func() *web.Shell {
	names := make([]string, 0, len(pageMeta))
	for n := range pageMeta {
		names = append(names, n)
	}
	sh, err := web.NewShell(pageTemplates+reviewTemplate, template.FuncMap{
		"size":  humanSize,
		"deref": func(p *int) int { return *p },
		"time": func(t any) string {
			switch v := t.(type) {
			case interface{ Format(string) string }:
				return v.Format("2006-01-02 15:04 MST")
			}
			return ""
		},
	}, names...)
	if err != nil {
		panic(err)
	}
	return sh
}()

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// The pages' content; the layout (header, navigation, styles, footer) is
// the app's (evidence/web). Public pages name no staff route.
const pageTemplates = `
{{define "recipient"}}
<h1>Records release for {{.Share.Recipient}}</h1>
<p class="badges"><span class="badge">request {{.Release.TrackingNumber}}</span><span class="badge">link works until {{time .Share.ExpiresAt}}</span>{{if .Share.MaxDownloads}}<span class="badge{{if ge .Share.Downloads (deref .Share.MaxDownloads)}} hold{{end}}">{{.Share.Downloads}} of {{.Share.MaxDownloads}} downloads used</span>{{end}}</p>
<div class="grid">
<section class="card" aria-labelledby="pkg-h">
  <h2 id="pkg-h">The whole package</h2>
  <dl class="meta">
    <dt>Request</dt><dd>{{.Release.TrackingNumber}}</dd>
    <dt>Released</dt><dd>{{if .Release.ReleasedAt}}{{time .Release.ReleasedAt}}{{end}}</dd>
    <dt>File</dt><dd>{{.Release.PackageName}} ({{size .Release.PackageSize}})</dd>
    <dt>SHA-256</dt><dd><code class="hash">{{.Release.PackageSHA256}}</code></dd>
    <dt>Signing key</dt><dd><code class="hash">{{.Release.KeyID}}</code></dd>
  </dl>
  <p><a class="button primary" href="/share/{{.Token}}/package" download>Download the whole package</a></p>
</section>
<section class="card" aria-labelledby="check-h">
  <h2 id="check-h">Checking what you received</h2>
  <p class="note">The package is a signed BagIt bag (RFC 8493). Anyone can check it offline with <code>dems verify {{.Release.PackageName}}</code>, or with any BagIt tool and the agency's public key (key id <code>{{.Release.KeyID}}</code>).</p>
  <p class="note">Downloads can be resumed.{{if .Share.MaxDownloads}} A download counts once the whole file has been sent, in one piece or in resumed parts; a download in progress can always be finished.{{end}}</p>
</section>
</div>
<section class="card" aria-labelledby="files-h">
  <h2 id="files-h">Files ({{len .Release.Files}})</h2>
  <div class="table-wrap"><table class="items">
  <thead><tr><th scope="col">File and SHA-256</th><th scope="col">Size</th></tr></thead><tbody>
  {{range .Release.Files}}<tr><td><a href="/share/{{$.Token}}/files/{{.Path}}">{{.Path}}</a><br><code class="hash">{{.SHA256}}</code></td><td class="num">{{size .Size}}</td></tr>{{end}}
  </tbody></table></div>
</section>
<p>Questions: <a href="mailto:{{.Agency.ContactEmail}}">{{.Agency.ContactEmail}}</a>. Every view and download of this link is recorded.</p>
{{end}}
{{define "passcode"}}
<section class="card login">
  <h1>Passcode required</h1>
  <p>The records release for <strong>{{.Recipient}}</strong> is protected by a passcode the agency gave you separately.</p>
  {{if .Error}}<p class="error" role="alert" id="passcode-error">{{.Error}}</p>{{end}}
  <form method="post" action="/share/{{.Token}}">{{if .CSRF}}<input type="hidden" name="csrf_token" value="{{.CSRF}}">{{end}}
    <label for="passcode">Passcode</label>
    <input id="passcode" name="passcode" type="password" autocomplete="off" required{{if .Error}} aria-describedby="passcode-error" aria-invalid="true"{{end}} autofocus>
    <button type="submit" class="primary">Open</button>
  </form>
</section>
{{end}}
{{define "gone"}}
<h1>{{.Title}}</h1>
<section class="card">
  <p class="error" role="alert">{{.Message}}</p>
  <p>If you still need these records, contact <a href="mailto:{{.Agency.ContactEmail}}">{{.Agency.ContactEmail}}</a>.</p>
</section>
{{end}}
{{define "problem"}}
<h1>{{.Title}}</h1>
<p class="error" role="alert">{{.Message}}</p>
<p><a href="/requests">Back to the requests</a></p>
{{end}}
{{define "staff"}}
<h1>Share links</h1>
{{if .Flash}}<p class="flash" role="status">Link {{.Flash}}.</p>{{end}}
<p class="badges"><span class="badge">request {{.Release.TrackingNumber}}</span><span class="badge">release {{.Release.State}}</span></p>
<p>Package <code>{{.Release.PackageName}}</code> ({{size .Release.PackageSize}}) of release <code>{{.Release.ID}}</code>. A download counts once the whole file has been sent, in one response or across ranges; every request is listed.</p>
{{if not .Shares}}<p class="card">No share links yet.</p>{{end}}
{{range .Shares}}<section class="card" aria-labelledby="share-{{.ID}}">
  <h2 id="share-{{.ID}}">{{.Recipient}} <span class="badge{{if ne .Status "active"}} hold{{end}}">{{.Status}}</span></h2>
  <dl class="meta">
    <dt>Created</dt><dd>{{time .CreatedAt}} by {{.CreatedBy}}</dd>
    <dt>Expires</dt><dd>{{time .ExpiresAt}}</dd>
    <dt>Passcode</dt><dd>{{if .HasPasscode}}yes{{else}}no{{end}}</dd>
    <dt>Downloads</dt><dd>{{.Downloads}}{{if .MaxDownloads}} of {{.MaxDownloads}}{{end}} completed · {{.Fetches}} requests · {{size .BytesServed}} sent · {{.Views}} views</dd>
    {{if .RevokedAt}}<dt>Revoked</dt><dd>by {{.RevokedBy}} {{time .RevokedAt}}: {{.RevokeReason}}</dd>{{end}}
  </dl>
  <div class="table-wrap"><table class="items">
  <caption class="sr-only">Activity of the link for {{.Recipient}}</caption>
  <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">File</th><th scope="col">Bytes</th><th scope="col">Whole</th><th scope="col">Address</th><th scope="col">Agent</th></tr></thead><tbody>
  {{range .Events}}<tr><td class="nowrap">{{time .At}}</td><td>{{.Kind}}{{if .Detail}} <span class="muted">({{.Detail}})</span>{{end}}</td><td>{{.File}}{{if .Range}} <span class="muted">[{{.Range}}]</span>{{end}}</td><td class="num">{{if or (eq .Kind "download") (eq .Kind "download_completed")}}{{.Bytes}}{{end}}</td><td>{{if eq .Kind "download"}}{{if .Complete}}complete{{else}}partial{{end}}{{else if eq .Kind "download_completed"}}counted{{end}}</td><td>{{.Address}}</td><td>{{.Agent}}</td></tr>{{end}}
  </tbody></table></div>
  {{if and $.CanRevoke (eq .Status "active")}}<form method="post" action="/releases/{{$.Release.ID}}/shares/{{.ID}}/revoke" class="row-form">
    <input type="hidden" name="csrf_token" value="{{$.CSRF}}">
    <div class="field wide"><label for="reason-{{.ID}}">Reason</label><input id="reason-{{.ID}}" name="reason" required maxlength="2000"></div>
    <button type="submit" class="danger">Revoke</button>
  </form>{{end}}
</section>{{end}}
{{end}}
`
