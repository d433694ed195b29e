package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
)

// SubjectKind says whether a subject is a person or a docking station.
type SubjectKind string

// Subject kinds, spelled as identity.Kind spells them.
const (
	KindUser SubjectKind = "user"
	KindDock SubjectKind = "dock"
)

// Subject is who asks, as the API middleware knows it from authentication
// (identity.Principal). Policy never looks anyone up: everything it decides
// on is here.
type Subject struct {
	ID       string      `json:"id"`
	Kind     SubjectKind `json:"kind"` // "" means KindUser
	Role     Role        `json:"role"`
	UnitPath string      `json:"unit"`  // e.g. "patrol.north"
	Badge    string      `json:"badge"` // matched against Resource.OfficerID
	Groups   []string    `json:"groups,omitempty"`
}

// Resource is the item a decision is about, as the caller read it from its
// row. Kind and ID only label explanations; the decision uses the unit, the
// recording officer, the categories and the restriction.
type Resource struct {
	Kind       string   `json:"kind,omitempty"` // "evidence", "case", "request"
	ID         string   `json:"id,omitempty"`
	UnitPath   string   `json:"unit"`
	OfficerID  string   `json:"officer_id,omitempty"` // badge of the recording officer
	Categories []string `json:"categories,omitempty"`
	Restricted string   `json:"restricted,omitempty"` // group the item is restricted to
}

// Decision is an answer with its justification. Rule quotes the policy row
// that decided, as written in the policy file; Source says where that row
// is. When no row matched, Rule is empty and Reason says the default deny
// applied.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Rule    string `json:"rule"`
	Reason  string `json:"reason"`
	Source  string `json:"source,omitempty"` // e.g. "configs/policy/access_policy.csv:42"
}

// NoRuleMatched is the Reason of a default deny.
const NoRuleMatched = "no rule matched → deny (default)"

// Explanation is what GET /api/v1/policy/explain returns: the decision plus
// exactly what was asked, so a reader can reproduce it.
type Explanation struct {
	Decision
	Mode          string    `json:"mode"` // "item" or "route"
	Subject       Subject   `json:"subject"`
	Action        Action    `json:"action"`
	Resource      *Resource `json:"resource,omitempty"`
	Request       []string  `json:"request"` // the casbin request values, in model order
	PolicyVersion string    `json:"policy_version"`
	// Overridden, when a deny row decided, quotes the first allow row that
	// matched too and was overridden ("" if none): "denied by the
	// restricted rule; otherwise the unit rule would have allowed it".
	Overridden       string `json:"overridden,omitempty"`
	OverriddenSource string `json:"overridden_source,omitempty"`
}

// Access decides access with a casbin enforcer built from a Source. It is
// safe for concurrent use; Reload swaps in a new enforcer atomically.
type Access struct {
	src   Source
	mu    sync.Mutex // serializes Reload
	state atomic.Pointer[accessState]
}

type accessState struct {
	c       *compiled
	version string
}

var accessSchema = schema{
	request:  []string{"role", "subunit", "badge", "groups", "act", "unit", "owner", "cats", "restricted"},
	policy:   []string{"role", "unit", "act", "cat", "scope", "eft"},
	matchers: []string{"m", "m2"},
	check:    checkAccessRow,
	buckets:  accessBuckets,
}

// accessBuckets indexes a row under every role and action it can match:
// both matchers require (r.role == p.role || p.role == "*") and
// actionMatch(r.act, p.act), so no other request can match it.
func accessBuckets(row []string) []string {
	roles := []Role{Role(row[0])}
	if row[0] == "*" {
		roles = Roles()
	}
	var keys []string
	for _, r := range roles {
		for _, act := range Actions() {
			if actionMatches(string(act), row[2]) {
				keys = append(keys, bucketKey(r, act))
			}
		}
	}
	return keys
}

func bucketKey(r Role, a Action) string { return string(r) + "|" + string(a) }

// Scopes a policy row may use (see docs/policy.md).
var accessScopes = []string{"any", "unit", "own", "group", "restricted"}

func checkAccessRow(row []string) error {
	role, unit, act, cat, scope, eft := row[0], row[1], row[2], row[3], row[4], row[5]
	switch {
	case role != "*" && !Role(role).Valid():
		return fmt.Errorf("role %q is not one of %v or *", role, Roles())
	case unit != "*" && !ValidUnitPath(unit):
		return fmt.Errorf("unit %q is not * or a dotted unit path like patrol.north", unit)
	case !actionPatternValid(act):
		return fmt.Errorf("act %q is not an action, a prefix pattern like evidence:*, or *", act)
	case cat != "*" && !validName(cat):
		return fmt.Errorf("cat %q is not * or a category name", cat)
	case !contains(accessScopes, scope):
		return fmt.Errorf("scope %q is not one of %v", scope, accessScopes)
	case eft != "allow" && eft != "deny":
		return fmt.Errorf("eft %q is not allow or deny", eft)
	case scope == "restricted" && eft == "allow":
		return errors.New("scope restricted matches subjects outside the item's group: it belongs on deny rows only")
	case role == string(RoleDock) && eft == "allow" && act != string(ActEvidenceUpload):
		return fmt.Errorf("docks may only upload: an allow row for role dock must have act %s", ActEvidenceUpload)
	case role == "*" && eft == "allow":
		return errors.New("an allow row for every role (*) would also grant docks; name the role")
	}
	return nil
}

// NewAccess loads src and returns a ready Access, or the first problem in
// the files (a *PolicyError wrapping ErrInvalidPolicy).
func NewAccess(src Source) (*Access, error) {
	a := &Access{src: src}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the source again and swaps in the new policy. If the new
// files are invalid the old policy stays in force and the error says why;
// the server wires SIGHUP to this.
func (a *Access) Reload() error { return a.reload(false) }

// reload does Reload. With rememberBad, a refused version is still recorded
// (under the same lock, so it cannot overwrite a concurrent good reload with
// a stale one) so that Watch reports a broken file once, not every tick.
func (a *Access) reload(rememberBad bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	version, err := a.src.Version()
	if err != nil {
		return fmt.Errorf("policy: reload access: %w", err)
	}
	c, err := a.build()
	if err != nil {
		if cur := a.state.Load(); rememberBad && cur != nil {
			a.state.Store(&accessState{c: cur.c, version: version})
		}
		return fmt.Errorf("policy: reload access: %w", err)
	}
	a.state.Store(&accessState{c: c, version: version})
	return nil
}

func (a *Access) build() (*compiled, error) {
	files, err := a.src.Load()
	if err != nil {
		return nil, err
	}
	c, err := compile(files, accessSchema)
	if err != nil {
		return nil, err
	}
	if err := selfCheckAccess(c, files.ModelName); err != nil {
		return nil, err
	}
	return c, nil
}

// selfCheckAccess evaluates both matchers once, so a model whose matcher
// does not compile or calls a function wrongly is refused at load time
// rather than failing every request.
func selfCheckAccess(c *compiled, modelName string) error {
	for key, enf := range c.buckets {
		role, act, _ := strings.Cut(key, "|")
		sub := Subject{Role: Role(role), UnitPath: "selfcheck", Badge: "1"}
		res := Resource{UnitPath: "selfcheck", OfficerID: "1", Categories: []string{"uncategorized"}, Restricted: "g"}
		for _, vals := range [][]interface{}{itemRequest(sub, Action(act), res), routeRequest(sub, Action(act))} {
			if _, _, err := enf.EnforceEx(vals...); err != nil {
				return &PolicyError{File: modelName, Problem: fmt.Sprintf("matcher does not evaluate: %v", err)}
			}
		}
	}
	return nil
}

// Watch polls the source's Version every interval until ctx ends and
// reloads when it changes. report, if not nil, is told the outcome of every
// reload attempt (err nil on success), e.g. to log it; a failed reload keeps
// the old policy and is retried only after the files change again.
func (a *Access) Watch(ctx context.Context, every time.Duration, report func(version string, err error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := a.src.Version()
		if err != nil {
			if report != nil {
				report("", err)
			}
			continue
		}
		if v == a.state.Load().version {
			continue
		}
		err = a.reload(true)
		if report != nil {
			report(v, err)
		}
	}
}

// Version is the source version of the policy in force.
func (a *Access) Version() string { return a.state.Load().version }

// Decide answers whether sub may perform act on res.
func (a *Access) Decide(sub Subject, act Action, res Resource) (Decision, error) {
	e, err := a.explain(sub, act, &res, false)
	return e.Decision, err
}

// RouteDecision answers for a route that is not about one item (listing,
// upload, admin pages): may sub perform act on anything at all, given its
// role and unit? Item routes must still call Decide for the item.
func (a *Access) RouteDecision(sub Subject, act Action) (Decision, error) {
	e, err := a.explain(sub, act, nil, false)
	return e.Decision, err
}

// Explain is Decide (res not nil) or RouteDecision (res nil) with the full
// request echoed, for the policy explain endpoint.
func (a *Access) Explain(sub Subject, act Action, res *Resource) (Explanation, error) {
	return a.explain(sub, act, res, true)
}

// explain decides; echo also renders the request for Explain, which the hot
// path (Decide, RouteDecision) does not pay for.
func (a *Access) explain(sub Subject, act Action, res *Resource, echo bool) (Explanation, error) {
	if sub.Kind == "" {
		sub.Kind = KindUser
	}
	ex := Explanation{Mode: "item", Subject: sub, Action: act, Resource: res}
	if err := sub.validate(); err != nil {
		return ex, err
	}
	if !act.Valid() {
		return ex, fmt.Errorf("policy: decide %q: %w", act, ErrUnknownAction)
	}
	var vals []interface{}
	if res != nil {
		if err := res.validate(); err != nil {
			return ex, err
		}
		vals = itemRequest(sub, act, *res)
	} else {
		ex.Mode = "route"
		vals = routeRequest(sub, act)
	}
	st := a.state.Load()
	ex.PolicyVersion = st.version
	if echo {
		ex.Request = requestText(vals)
	}
	allowed, row, err := st.c.enforce(bucketKey(sub.Role, act), vals...)
	if err != nil {
		return ex, fmt.Errorf("policy: decide %s for %s: %w", act, sub.Role, err)
	}
	ex.Allowed = allowed
	if len(row) == 0 {
		ex.Reason = NoRuleMatched
		return ex, nil
	}
	ex.Rule = ruleText(row)
	if line, ok := st.c.origin[rowKey(row)]; ok {
		ex.Source = fmt.Sprintf("%s:%d", st.c.name, line)
	}
	ex.Reason = accessReason(allowed, row, sub, res)
	if echo && !allowed {
		if err := st.c.overridden(&ex, bucketKey(sub.Role, act), res == nil, vals); err != nil {
			return ex, fmt.Errorf("policy: explain %s for %s: %w", act, sub.Role, err)
		}
	}
	return ex, nil
}

// overridden finds the first allow row that matched a denied request, by
// asking the same bucket's enforcer with the model's own matcher restricted
// to allow rows.
func (c *compiled) overridden(ex *Explanation, key string, route bool, vals []interface{}) error {
	enf, ok := c.buckets[key]
	if !ok {
		return nil
	}
	mType := "m"
	if route {
		mType = "m2"
	}
	m := "(" + enf.GetModel()["m"][mType].Value + `) && p_eft == "allow"`
	_, row, err := enf.EnforceExWithMatcher(m, vals...)
	if err != nil || len(row) == 0 {
		return err
	}
	ex.Overridden = ruleText(row)
	ex.OverriddenSource = fmt.Sprintf("%s:%d", c.name, c.origin[rowKey(row)])
	return nil
}

var routeContext = casbin.EnforceContext{RType: "r", PType: "p", EType: "e", MType: "m2"}

func itemRequest(sub Subject, act Action, res Resource) []interface{} {
	return []interface{}{string(sub.Role), sub.UnitPath, sub.Badge, nonNil(sub.Groups), string(act),
		res.UnitPath, res.OfficerID, nonNil(res.Categories), res.Restricted}
}

func routeRequest(sub Subject, act Action) []interface{} {
	return []interface{}{routeContext, string(sub.Role), sub.UnitPath, sub.Badge, nonNil(sub.Groups), string(act),
		sub.UnitPath, "", []string{}, ""}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func requestText(vals []interface{}) []string {
	var out []string
	for _, v := range vals {
		switch v := v.(type) {
		case casbin.EnforceContext:
			continue
		case []string:
			out = append(out, "["+strings.Join(v, " ")+"]")
		default:
			out = append(out, fmt.Sprint(v))
		}
	}
	return out
}

// accessReason says in words why row decided, from the row's columns and
// the request; Rule quotes the row itself.
func accessReason(allowed bool, row []string, sub Subject, res *Resource) string {
	unit, cat, scope := row[1], row[3], row[4]
	verb := "denied"
	if allowed {
		verb = "allowed"
	}
	var why []string
	if res == nil {
		why = append(why, fmt.Sprintf("route decision for role %s in unit %s", sub.Role, sub.UnitPath))
		switch scope {
		case "own":
			why = append(why, "on the subject's own recordings")
		case "unit":
			why = append(why, fmt.Sprintf("on items within unit %s", narrower(unit, sub.UnitPath)))
		case "group":
			why = append(why, fmt.Sprintf("on items restricted to the subject's groups %v", sub.Groups))
		case "any":
			if unit == "*" {
				why = append(why, "agency-wide")
			} else {
				why = append(why, "on items within unit "+unit)
			}
		}
		return verb + ": " + strings.Join(why, ", ")
	}
	switch scope {
	case "any":
		why = append(why, fmt.Sprintf("role %s applies agency-wide", row[0]))
	case "unit":
		why = append(why, fmt.Sprintf("the item's unit %s is within the subject's unit %s", res.UnitPath, sub.UnitPath))
	case "own":
		why = append(why, fmt.Sprintf("the recording is the subject's own (officer %s)", res.OfficerID))
	case "group":
		why = append(why, fmt.Sprintf("the item is restricted to group %s and the subject is a member", res.Restricted))
	case "restricted":
		why = append(why, fmt.Sprintf("the item is restricted to group %s and the subject is not a member", res.Restricted))
	}
	if unit != "*" {
		why = append(why, fmt.Sprintf("the rule covers unit %s", unit))
	}
	if cat != "*" {
		why = append(why, fmt.Sprintf("the item is categorized %s", cat))
	}
	return verb + ": " + strings.Join(why, "; ")
}

func narrower(rowUnit, subUnit string) string {
	if rowUnit == "*" || UnitWithin(subUnit, rowUnit) {
		return subUnit
	}
	return rowUnit
}

func (s Subject) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("policy: subject %q: %s: %w", s.ID, fmt.Sprintf(format, args...), ErrInvalidSubject)
	}
	switch {
	case s.Kind != KindUser && s.Kind != KindDock:
		return bad("kind %q is not user or dock", s.Kind)
	case !s.Role.Valid():
		return bad("role %q is not one of %v", s.Role, Roles())
	case s.Kind == KindDock && s.Role != RoleDock:
		return bad("a dock must have role dock, not %q", s.Role)
	case s.Kind == KindUser && s.Role == RoleDock:
		return bad("role dock is for docking stations only")
	case !ValidUnitPath(s.UnitPath):
		return bad("unit %q is not a dotted unit path", s.UnitPath)
	case len(s.Badge) > 64:
		return bad("badge is longer than 64 bytes")
	}
	for _, g := range s.Groups {
		if !validName(g) {
			return bad("group %q is not a group name", g)
		}
	}
	return nil
}

func (r Resource) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("policy: resource %s %q: %s: %w", r.Kind, r.ID, fmt.Sprintf(format, args...), ErrInvalidResource)
	}
	if !ValidUnitPath(r.UnitPath) {
		return bad("unit %q is not a dotted unit path", r.UnitPath)
	}
	if len(r.OfficerID) > 64 {
		return bad("officer id is longer than 64 bytes")
	}
	for _, c := range r.Categories {
		if !validName(c) {
			return bad("category %q is not a category name", c)
		}
	}
	if r.Restricted != "" && !validName(r.Restricted) {
		return bad("restricted group %q is not a group name", r.Restricted)
	}
	return nil
}
