package review

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/custody"
	"github.com/opendems/opendems/evidence/identity"
)

// Marker is a reviewer's bookmark at a media time.
type Marker struct {
	ID        uuid.UUID `json:"id"`
	At        float64   `json:"at"` // seconds from the start of the media
	Note      string    `json:"note"`
	Actor     string    `json:"actor"`
	CreatedAt time.Time `json:"created_at"`
}

// MaxNote bounds a marker's note (characters).
const MaxNote = 2000

// Markers returns the item's markers in media-time order.
func (s *Service) Markers(ctx context.Context, id uuid.UUID) ([]Marker, error) {
	rows, err := s.d.Pool.Query(ctx, `SELECT id, at_seconds, note, actor, created_at FROM evidence_markers
		WHERE evidence_id = $1 AND deleted_at IS NULL ORDER BY at_seconds, created_at`, id)
	if err != nil {
		return nil, fmt.Errorf("review: markers: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Marker, error) {
		var m Marker
		err := r.Scan(&m.ID, &m.At, &m.Note, &m.Actor, &m.CreatedAt)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("review: markers: %w", err)
	}
	if ms == nil {
		ms = []Marker{}
	}
	return ms, nil
}

// MarkerInput is the body of POST /evidence/:id/markers.
type MarkerInput struct {
	At   *float64 `json:"at"`
	Note string   `json:"note"`
}

// Validate checks a marker against the item's duration (when known).
func (in MarkerInput) Validate(duration float64) error {
	switch {
	case in.At == nil:
		return invalid("at", "required: seconds from the start of the media")
	case math.IsNaN(*in.At) || math.IsInf(*in.At, 0) || *in.At < 0:
		return invalid("at", "must be a non-negative number of seconds")
	case duration > 0 && *in.At > duration+1:
		return invalid("at", fmt.Sprintf("%.3f s is beyond the media's end (%.3f s)", *in.At, duration))
	case utf8.RuneCountInString(in.Note) > MaxNote:
		return invalid("note", fmt.Sprintf("at most %d characters", MaxNote))
	case !utf8.ValidString(in.Note):
		return invalid("note", "must be UTF-8 text")
	}
	return nil
}

func invalid(field, reason string) error { return evidence.Invalid(field, reason) }

// AddMarker stores a marker and appends marker_added in one transaction.
func (s *Service) AddMarker(ctx context.Context, p identity.Principal, it *evidence.Item, in MarkerInput) (Marker, error) {
	if err := in.Validate(mediaDuration(it)); err != nil {
		return Marker{}, err
	}
	m := Marker{At: *in.At, Note: strings.TrimSpace(in.Note), Actor: p.Actor()}
	err := pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO evidence_markers (evidence_id, at_seconds, note, created_by, actor)
			VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`, it.ID, m.At, m.Note, userID(p), m.Actor).Scan(&m.ID, &m.CreatedAt); err != nil {
			return err
		}
		_, err := custody.Append(ctx, tx, custody.NewEvent{EvidenceID: it.ID, Actor: p.Actor(), Action: custody.Action("marker_added"),
			Details: map[string]any{"marker_id": m.ID.String(), "at_seconds": m.At, "note": m.Note}})
		return err
	})
	if err != nil {
		return Marker{}, fmt.Errorf("review: add marker: %w", err)
	}
	return m, nil
}

// mediaDuration is the probed duration in seconds (0 when not probed).
func mediaDuration(it *evidence.Item) float64 {
	var m struct {
		Probe struct {
			Duration float64 `json:"duration"`
		} `json:"probe"`
	}
	_ = json.Unmarshal(it.Metadata, &m)
	return m.Probe.Duration
}

func (s *Service) handleMarkers(c *gin.Context) {
	it, _ := api.ItemOf(c)
	ms, err := s.Markers(c.Request.Context(), it.ID)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, MarkerList{Markers: ms})
}

func (s *Service) handleAddMarker(c *gin.Context) {
	it, _ := api.ItemOf(c)
	var in MarkerInput
	if !api.Bind(c, &in) {
		return
	}
	m, err := s.AddMarker(c.Request.Context(), principal(c), it, in)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, m)
}

var tagRE = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} _.:-]{0,39}$`)

// MaxTags bounds an item's tags.
const MaxTags = 30

// NormalizeTags lower-cases, trims, de-duplicates and validates tags.
func NormalizeTags(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		if !tagRE.MatchString(t) {
			return nil, invalid("tags", fmt.Sprintf("%q: 1-40 letters, digits, spaces or _ . : - starting with a letter or digit", t))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > MaxTags {
		return nil, invalid("tags", fmt.Sprintf("at most %d tags", MaxTags))
	}
	slices.Sort(out)
	return out, nil
}

// SetTags replaces the tags and records old and new in custody.
func (s *Service) SetTags(ctx context.Context, p identity.Principal, it *evidence.Item, tags []string) ([]string, error) {
	tags, err := NormalizeTags(tags)
	if err != nil {
		return nil, err
	}
	err = s.change(ctx, it.ID, func(tx pgx.Tx) (map[string]any, error) {
		var old []string
		if err := tx.QueryRow(ctx, `SELECT tags FROM evidence_items WHERE id = $1 FOR UPDATE`, it.ID).Scan(&old); err != nil {
			return nil, err
		}
		if slices.Equal(old, tags) {
			return nil, nil
		}
		if _, err := tx.Exec(ctx, `UPDATE evidence_items SET tags = $2, updated_at = now() WHERE id = $1`, it.ID, tags); err != nil {
			return nil, err
		}
		return map[string]any{"field": "tags", "old": old, "new": tags}, nil
	}, p, "metadata_changed")
	return tags, err
}

// SetFlagged flags or unflags the item.
func (s *Service) SetFlagged(ctx context.Context, p identity.Principal, it *evidence.Item, flagged bool) error {
	return s.change(ctx, it.ID, func(tx pgx.Tx) (map[string]any, error) {
		var old bool
		if err := tx.QueryRow(ctx, `SELECT flagged FROM evidence_items WHERE id = $1 FOR UPDATE`, it.ID).Scan(&old); err != nil {
			return nil, err
		}
		if old == flagged {
			return nil, nil
		}
		if _, err := tx.Exec(ctx, `UPDATE evidence_items SET flagged = $2, updated_at = now() WHERE id = $1`, it.ID, flagged); err != nil {
			return nil, err
		}
		return map[string]any{"field": "flagged", "old": old, "new": flagged}, nil
	}, p, "metadata_changed")
}

// change runs fn in a transaction and appends action with the details it
// returns (nil details: nothing changed, nothing recorded).
func (s *Service) change(ctx context.Context, id uuid.UUID, fn func(pgx.Tx) (map[string]any, error), p identity.Principal, action string) error {
	err := pgx.BeginFunc(ctx, s.d.Pool, func(tx pgx.Tx) error {
		details, err := fn(tx)
		if err != nil || details == nil {
			return err
		}
		_, err = custody.Append(ctx, tx, custody.NewEvent{EvidenceID: id, Actor: p.Actor(), Action: custody.Action(action), Details: details})
		return err
	})
	if err != nil {
		return fmt.Errorf("review: %s %s: %w", action, id, err)
	}
	return nil
}

func (s *Service) handleTags(c *gin.Context) {
	it, _ := api.ItemOf(c)
	var in Tags
	if !api.Bind(c, &in) {
		return
	}
	if in.Tags == nil {
		api.WriteError(c, invalid("tags", "required (an empty list clears them)"))
		return
	}
	tags, err := s.SetTags(c.Request.Context(), principal(c), it, in.Tags)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, Tags{Tags: tags})
}

func (s *Service) handleFlag(c *gin.Context) {
	it, _ := api.ItemOf(c)
	var in FlagBody
	if !api.Bind(c, &in) {
		return
	}
	if in.Flagged == nil {
		api.WriteError(c, invalid("flagged", "required: true or false"))
		return
	}
	if err := s.SetFlagged(c.Request.Context(), principal(c), it, *in.Flagged); err != nil {
		api.WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, Flagged{Flagged: *in.Flagged})
}
