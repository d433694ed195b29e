package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ScheduleConfig is the retention schedule as written in retention.yaml.
// Periods stay strings here so Validate can name the field that is wrong;
// Compile turns a valid config into a Schedule.
type ScheduleConfig struct {
	Version         int                `yaml:"version" json:"version"`
	DefaultCategory string             `yaml:"default_category" json:"default_category"`
	Categories      []CategoryRule     `yaml:"categories" json:"categories"`
	Flags           []FlagRule         `yaml:"flags" json:"flags,omitempty"`
	SubjectRequest  SubjectRequestRule `yaml:"subject_request" json:"subject_request"`
}

// CategoryRule is how long items of one category are kept.
type CategoryRule struct {
	Name        string `yaml:"name" json:"name"`
	Keep        string `yaml:"keep" json:"keep"` // a Period, e.g. "2y" or "indefinite"
	Description string `yaml:"description" json:"description,omitempty"`
}

// FlagRule is how much longer a flag (e.g. use-of-force) keeps an item.
type FlagRule struct {
	Name        string `yaml:"name" json:"name"`
	Extend      string `yaml:"extend" json:"extend"` // a Period
	Description string `yaml:"description" json:"description,omitempty"`
}

// SubjectRequestRule is how long a subject's request keeps an item.
type SubjectRequestRule struct {
	Extend string `yaml:"extend" json:"extend"` // a Period, counted from the request
}

// Period is a calendar period: years, months and days are added with
// time.AddDate in UTC, so "2y" from 29 February is 1 March two years on and
// daylight-saving changes never shift a deadline by an hour.
type Period struct {
	Years, Months, Days int
	Indefinite          bool
}

// String renders p the way ParsePeriod reads it.
func (p Period) String() string {
	switch {
	case p.Indefinite:
		return "indefinite"
	case p.Years != 0:
		return strconv.Itoa(p.Years) + "y"
	case p.Months != 0:
		return strconv.Itoa(p.Months) + "m"
	default:
		return strconv.Itoa(p.Days) + "d"
	}
}

// addTo returns t plus p (t itself is never indefinite).
func (p Period) addTo(t time.Time) time.Time { return t.UTC().AddDate(p.Years, p.Months, p.Days) }

var periodRE = regexp.MustCompile(`^([0-9]{1,6})\s*(d|days?|w|weeks?|m|months?|y|years?)$`)

// Limits keep every deadline inside what time.Time and PostgreSQL's
// timestamptz represent; a longer "period" is a typo for indefinite.
const (
	maxPeriodYears = 200
	maxPeriodDays  = maxPeriodYears * 366
)

// ParsePeriod reads "180d", "90 days", "6w", "18m", "2y", "10 years" or
// "indefinite". Zero periods are refused: keeping something zero days is a
// typo, not a policy.
func ParsePeriod(s string) (Period, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "indefinite" || t == "forever" {
		return Period{Indefinite: true}, nil
	}
	m := periodRE.FindStringSubmatch(t)
	if m == nil {
		return Period{}, errors.New(`want a period like "180d", "6w", "18m", "2y" or "indefinite"`)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return Period{}, err
	}
	if n == 0 {
		return Period{}, errors.New("period must be longer than zero")
	}
	var p Period
	days := 0
	switch m[2][0] {
	case 'd':
		p.Days, days = n, n
	case 'w':
		p.Days, days = 7*n, 7*n
	case 'm':
		p.Months, days = n, n*31
	case 'y':
		p.Years, days = n, n*366
	}
	if days > maxPeriodDays {
		return Period{}, fmt.Errorf("period is longer than %d years; use indefinite", maxPeriodYears)
	}
	return p, nil
}

// Schedule is a validated retention schedule, ready to compute deadlines.
type Schedule struct {
	defaultCategory string
	categories      map[string]Period
	categoryOrder   []string
	flags           map[string]Period
	subjectRequest  Period
}

// ParseSchedule decodes retention YAML strictly (unknown fields, a second
// document or trailing garbage are errors), validates it and compiles it.
// Errors wrap ErrInvalidSchedule; validation errors are *FieldError.
func ParseSchedule(data []byte) (*Schedule, error) {
	c, err := DecodeScheduleConfig(data)
	if err != nil {
		return nil, err
	}
	s, err := c.Compile()
	if err != nil {
		return nil, fmt.Errorf("policy: parse retention schedule: %w", err)
	}
	return s, nil
}

// DecodeScheduleConfig decodes retention YAML strictly without validating
// it, e.g. to show the schedule as written; ParseSchedule is the usual
// entry point.
func DecodeScheduleConfig(data []byte) (ScheduleConfig, error) {
	var c ScheduleConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return c, fmt.Errorf("policy: parse retention schedule: document is empty: %w", ErrInvalidSchedule)
		}
		return c, fmt.Errorf("policy: parse retention schedule: %v: %w", err, ErrInvalidSchedule)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("policy: parse retention schedule: want one YAML document, found more: %w", ErrInvalidSchedule)
	}
	return c, nil
}

// Validate checks c and returns a *FieldError naming the first bad field.
func (c ScheduleConfig) Validate() error {
	_, err := c.Compile()
	return err
}

// Compile validates c and builds a Schedule.
func (c ScheduleConfig) Compile() (*Schedule, error) {
	fe := func(field, value, format string, args ...any) error {
		return &FieldError{Field: field, Value: value, Problem: fmt.Sprintf(format, args...)}
	}
	if c.Version != 1 {
		return nil, fe("version", strconv.Itoa(c.Version), "must be 1")
	}
	if len(c.Categories) == 0 {
		return nil, fe("categories", "", "must list at least one category")
	}
	s := &Schedule{categories: map[string]Period{}, flags: map[string]Period{}}
	for i, r := range c.Categories {
		field := fmt.Sprintf("categories[%d]", i)
		if !validName(r.Name) {
			return nil, fe(field+".name", r.Name, "want a lower-case name like felony or non-evidentiary")
		}
		if _, dup := s.categories[r.Name]; dup {
			return nil, fe(field+".name", r.Name, "category is listed twice")
		}
		p, err := ParsePeriod(r.Keep)
		if err != nil {
			return nil, fe(field+".keep", r.Keep, "%v", err)
		}
		s.categories[r.Name] = p
		s.categoryOrder = append(s.categoryOrder, r.Name)
	}
	if c.DefaultCategory == "" {
		return nil, fe("default_category", "", "must name the category of uncategorized items")
	}
	if _, ok := s.categories[c.DefaultCategory]; !ok {
		return nil, fe("default_category", c.DefaultCategory, "is not one of the categories")
	}
	s.defaultCategory = c.DefaultCategory
	for i, r := range c.Flags {
		field := fmt.Sprintf("flags[%d]", i)
		if !validName(r.Name) {
			return nil, fe(field+".name", r.Name, "want a lower-case name like use-of-force")
		}
		if _, dup := s.flags[r.Name]; dup {
			return nil, fe(field+".name", r.Name, "flag is listed twice")
		}
		p, err := ParsePeriod(r.Extend)
		if err != nil {
			return nil, fe(field+".extend", r.Extend, "%v", err)
		}
		s.flags[r.Name] = p
	}
	p, err := ParsePeriod(c.SubjectRequest.Extend)
	if err != nil {
		return nil, fe("subject_request.extend", c.SubjectRequest.Extend, "%v", err)
	}
	if p.Indefinite {
		return nil, fe("subject_request.extend", c.SubjectRequest.Extend, "a subject's request cannot hold an item forever; use a legal hold")
	}
	s.subjectRequest = p
	return s, nil
}

// Categories returns the schedule's categories in file order with their
// periods, e.g. for the admin retention page.
func (s *Schedule) Categories() []CategoryPeriod {
	out := make([]CategoryPeriod, 0, len(s.categoryOrder))
	for _, n := range s.categoryOrder {
		out = append(out, CategoryPeriod{Name: n, Keep: s.categories[n]})
	}
	return out
}

// CategoryPeriod is one category and its retention period.
type CategoryPeriod struct {
	Name string
	Keep Period
}

// HasCategory reports whether name is a category of the schedule, so the
// API can refuse an unknown category when an item is categorized.
func (s *Schedule) HasCategory(name string) bool { _, ok := s.categories[name]; return ok }

// ItemRetentionInput is what the retention deadline of an item depends on.
type ItemRetentionInput struct {
	RecordedAt         time.Time   // when the camera recorded; zero if unknown
	IngestedAt         time.Time   // fallback when RecordedAt is zero
	Categories         []string    // empty means the default category
	Flags              []string    // flags the schedule does not name are ignored
	SubjectRequests    []time.Time // when each subject's request to keep it was made
	OpenAccessRequests bool        // an open public access request holds the item
}

// RetainUntil computes an item's retention deadline: the longest period of
// its categories counted from the recording time, extended by the largest
// of its flags' extensions, kept at least the configured period after each
// subject's request, and held indefinitely while a public access request is
// open (recompute when it closes) or when any category or flag says
// indefinite. explanation says how the answer was reached. Unknown
// categories are an error (ErrUnknownCategory): guessing could destroy
// evidence early.
func (s *Schedule) RetainUntil(in ItemRetentionInput) (until time.Time, indefinite bool, explanation string, err error) {
	var why []string
	start := in.RecordedAt
	if start.IsZero() {
		if in.IngestedAt.IsZero() {
			return time.Time{}, false, "", fmt.Errorf("policy: retain until: no recording or ingest time: %w", ErrInvalidRetentionInput)
		}
		start = in.IngestedAt
		why = append(why, fmt.Sprintf("no recording time, counted from ingest %s", stamp(start)))
	} else {
		why = append(why, fmt.Sprintf("recorded %s", stamp(start)))
	}
	cats := in.Categories
	if len(cats) == 0 {
		cats = []string{s.defaultCategory}
	}
	best, bestCat := time.Time{}, ""
	for _, c := range cats {
		p, ok := s.categories[c]
		if !ok {
			return time.Time{}, false, "", fmt.Errorf("policy: retain until: category %q: %w", c, ErrUnknownCategory)
		}
		if p.Indefinite {
			indefinite = true
			bestCat = c
			continue
		}
		if t := p.addTo(start); t.After(best) {
			best, bestCat = t, c
		}
	}
	if indefinite {
		why = append(why, fmt.Sprintf("category %s is kept indefinitely", bestCat))
	} else {
		why = append(why, fmt.Sprintf("category %s keeps %s → %s", bestCat, s.categories[bestCat], stamp(best)))
		if len(cats) > 1 {
			why[len(why)-1] += " (longest of " + strings.Join(cats, ", ") + ")"
		}
	}
	// Flags: the largest extension, applied to the category deadline.
	flags := append([]string(nil), in.Flags...)
	sort.Strings(flags)
	var flagBest time.Time
	flagName := ""
	for _, f := range flags {
		p, ok := s.flags[f]
		if !ok {
			continue
		}
		if p.Indefinite {
			if !indefinite {
				why = append(why, fmt.Sprintf("flag %s keeps it indefinitely", f))
			}
			indefinite = true
			continue
		}
		if !indefinite {
			if t := p.addTo(best); t.After(flagBest) {
				flagBest, flagName = t, f
			}
		}
	}
	if !indefinite && flagName != "" {
		best = flagBest
		why = append(why, fmt.Sprintf("flag %s extends by %s → %s", flagName, s.flags[flagName], stamp(best)))
	}
	for _, r := range in.SubjectRequests {
		if r.IsZero() {
			return time.Time{}, false, "", fmt.Errorf("policy: retain until: subject request without a time: %w", ErrInvalidRetentionInput)
		}
		if t := s.subjectRequest.addTo(r); !indefinite && t.After(best) {
			best = t
			why = append(why, fmt.Sprintf("subject request of %s keeps it %s → %s", stamp(r), s.subjectRequest, stamp(best)))
		}
	}
	if in.OpenAccessRequests {
		indefinite = true
		why = append(why, "held while a public access request is open (recompute when it closes)")
	}
	if indefinite {
		why = append(why, "retain indefinitely")
		return time.Time{}, true, strings.Join(why, "; "), nil
	}
	why = append(why, "retain until "+stamp(best))
	return best, false, strings.Join(why, "; "), nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
