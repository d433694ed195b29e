package web

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
)

// adminData is the model of the admin pages.
type adminData struct {
	Users    []identity.User
	Units    []identity.Unit
	Docks    []identity.Dock
	Roles    []string
	NewToken string // a dock token, shown once after enrolment
	NewName  string
}

func (u *UI) adminPage(c *gin.Context, v *view, page string, d adminData) {
	ctx := c.Request.Context()
	var err error
	if d.Units == nil {
		if d.Units, err = u.d.Identity.Units(ctx); err != nil {
			u.serverError(c, v, err)
			return
		}
	}
	switch page {
	case "admin_users":
		v.Title = "Users"
		d.Users, err = u.d.Identity.Users(ctx)
		d.Roles = identity.Roles
	case "admin_units":
		v.Title = "Units"
	case "admin_docks":
		v.Title = "Docking stations"
		d.Docks, err = u.d.Identity.Docks(ctx)
	}
	if err != nil {
		u.serverError(c, v, err)
		return
	}
	v.Nav, v.Data = "admin", d
	if v.Flash == "" {
		v.Flash = c.Query("flash")
	}
	u.render(c, page, v)
}

// formError re-renders an admin page with a user-facing error (bad input)
// or fails (anything else).
func (u *UI) formError(c *gin.Context, v *view, page string, err error) {
	var inv *identity.InvalidError
	switch {
	case errors.As(err, &inv):
		v.Status, v.Error = http.StatusBadRequest, "Not saved: "+inv.Error()
	case errors.Is(err, identity.ErrExists):
		v.Status, v.Error = http.StatusConflict, "Not saved: it already exists."
	case errors.Is(err, evidence.ErrNotFound):
		v.Status, v.Error = http.StatusBadRequest, "Not saved: "+err.Error()
	default:
		u.serverError(c, v, err)
		return
	}
	u.adminPage(c, v, page, adminData{})
}

func (u *UI) adminUsers(c *gin.Context, v *view) {
	u.adminPage(c, v, "admin_users", adminData{})
}

func (u *UI) adminCreateUser(c *gin.Context, v *view) {
	nu := identity.NewUser{Username: strings.TrimSpace(c.PostForm("username")), Password: c.PostForm("password"),
		Role: c.PostForm("role"), Unit: c.PostForm("unit"), DisplayName: strings.TrimSpace(c.PostForm("display_name")),
		Badge: strings.TrimSpace(c.PostForm("badge"))}
	usr, err := u.d.Identity.CreateUser(c.Request.Context(), nu)
	if err != nil {
		u.formError(c, v, "admin_users", err)
		return
	}
	u.audit(c, api.AuditEvent{Type: "user_created", Actor: v.User.Actor(), Outcome: "success", Details: map[string]any{"user": usr.Username, "role": usr.Role, "unit": usr.Unit, "via": "web"}})
	c.Redirect(http.StatusSeeOther, "/admin/users?flash="+urlq("User "+usr.Username+" created."))
}

func (u *UI) adminUserStatus(c *gin.Context, v *view) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		u.notFound(c, v)
		return
	}
	disable := c.PostForm("disabled") == "true"
	if id == v.User.ID && disable {
		v.Status, v.Error = http.StatusBadRequest, "You cannot disable your own account."
		u.adminPage(c, v, "admin_users", adminData{})
		return
	}
	if err := u.d.Identity.SetDisabled(c.Request.Context(), id, disable); err != nil {
		u.formError(c, v, "admin_users", err)
		return
	}
	kind := "user_enabled"
	if disable {
		kind = "user_disabled"
	}
	u.audit(c, api.AuditEvent{Type: kind, Actor: v.User.Actor(), Outcome: "success", Details: map[string]any{"user_id": id.String(), "via": "web"}})
	c.Redirect(http.StatusSeeOther, "/admin/users?flash="+urlq("Saved."))
}

func (u *UI) adminUnits(c *gin.Context, v *view) {
	u.adminPage(c, v, "admin_units", adminData{})
}

func (u *UI) adminCreateUnit(c *gin.Context, v *view) {
	unit, err := u.d.Identity.CreateUnit(c.Request.Context(), strings.TrimSpace(c.PostForm("slug")), strings.TrimSpace(c.PostForm("name")), c.PostForm("parent"))
	if err != nil {
		u.formError(c, v, "admin_units", err)
		return
	}
	u.audit(c, api.AuditEvent{Type: "unit_created", Actor: v.User.Actor(), Outcome: "success", Details: map[string]any{"unit": unit.Path, "via": "web"}})
	c.Redirect(http.StatusSeeOther, "/admin/units?flash="+urlq("Unit "+unit.Path+" created."))
}

func (u *UI) adminDocks(c *gin.Context, v *view) {
	u.adminPage(c, v, "admin_docks", adminData{})
}

// adminEnrollDock shows the new dock's token once, on the page answering
// the POST (it is never stored in clear and never put in a URL).
func (u *UI) adminEnrollDock(c *gin.Context, v *view) {
	by := v.User.ID
	d, token, err := u.d.Identity.EnrollDock(c.Request.Context(), strings.TrimSpace(c.PostForm("name")), c.PostForm("unit"), strings.TrimSpace(c.PostForm("location")), &by)
	if err != nil {
		u.formError(c, v, "admin_docks", err)
		return
	}
	u.audit(c, api.AuditEvent{Type: "dock_enrolled", Actor: v.User.Actor(), Outcome: "success", Details: map[string]any{"dock": d.Name, "unit": d.Unit, "via": "web"}})
	v.Flash = "Docking station " + d.Name + " enrolled. Copy its token now: it is shown only once."
	u.adminPage(c, v, "admin_docks", adminData{NewToken: token, NewName: d.Name})
}

func (u *UI) adminRevokeDock(c *gin.Context, v *view) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		u.notFound(c, v)
		return
	}
	if err := u.d.Identity.RevokeDock(c.Request.Context(), id); err != nil {
		u.formError(c, v, "admin_docks", err)
		return
	}
	u.audit(c, api.AuditEvent{Type: "dock_revoked", Actor: v.User.Actor(), Outcome: "success", Details: map[string]any{"dock_id": id.String(), "via": "web"}})
	c.Redirect(http.StatusSeeOther, "/admin/docks?flash="+urlq("Docking station revoked; its token no longer works."))
}

// probeSummary is the part of the probe the metadata panel shows.
type probeSummary struct {
	Duration  float64
	Width     int
	Height    int
	Codec     string
	FrameRate float64
	Audio     string
	Rotation  int
	Device    string
	Location  string
	Created   string
}

func summarizeProbe(meta json.RawMessage) probeSummary {
	var m struct {
		Probe struct {
			Duration     float64 `json:"duration"`
			Rotation     int     `json:"rotation"`
			CreationTime string  `json:"creation_time"`
			Device       struct {
				Make, Model string
			} `json:"device"`
			Location *struct {
				Latitude  float64 `json:"latitude"`
				Longitude float64 `json:"longitude"`
			} `json:"location"`
			Streams []struct {
				Kind       string  `json:"kind"`
				Codec      string  `json:"codec"`
				Width      int     `json:"width"`
				Height     int     `json:"height"`
				FrameRate  float64 `json:"frame_rate"`
				SampleRate int     `json:"sample_rate"`
				Channels   int     `json:"channels"`
			} `json:"streams"`
		} `json:"probe"`
	}
	var s probeSummary
	if json.Unmarshal(meta, &m) != nil {
		return s
	}
	pr := m.Probe
	s.Duration, s.Rotation, s.Created = pr.Duration, pr.Rotation, pr.CreationTime
	// FFmpeg writes an unset MP4 vendor id as "[0][0][0][0]": not a make.
	clean := func(v string) string {
		if strings.Trim(v, "[0]") == "" {
			return ""
		}
		return v
	}
	s.Device = strings.TrimSpace(clean(pr.Device.Make) + " " + clean(pr.Device.Model))
	if pr.Location != nil {
		s.Location = formatLatLon(pr.Location.Latitude, pr.Location.Longitude)
	}
	for _, st := range pr.Streams {
		switch {
		case st.Kind == "video" && s.Codec == "":
			s.Codec, s.Width, s.Height, s.FrameRate = st.Codec, st.Width, st.Height, math.Round(st.FrameRate*100)/100
		case st.Kind == "audio" && s.Audio == "":
			s.Audio = st.Codec
			if st.SampleRate > 0 {
				s.Audio += " " + itoa(st.SampleRate) + " Hz"
			}
			if st.Channels > 0 {
				s.Audio += ", " + itoa(st.Channels) + " ch"
			}
		}
	}
	return s
}
