package policy

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/constant"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
)

// Files is one version of a model and its policy, with the names used in
// error messages and in Decision.Source.
type Files struct {
	ModelName  string
	Model      []byte
	PolicyName string
	Policy     []byte
}

// schema says what an enforcer's model must declare (so the Go side can fill
// the request) and how to check a policy row.
type schema struct {
	request  []string // request_definition tokens, without the "r_" prefix
	policy   []string // policy_definition tokens, without the "p_" prefix
	matchers []string // matcher names that must exist
	check    func(row []string) error
	// buckets, if set, names the index buckets a row belongs to. A request
	// is evaluated only against the rows of its bucket, in file order.
	// The buckets must only drop rows the matcher could never match for
	// that request (for access: rows of another role or action), so the
	// index changes speed, never answers.
	buckets func(row []string) []string
}

// compiled is one casbin enforcer per index bucket plus where each row came
// from. casbin evaluates the matcher on every row of an enforcer for every
// request (allow-and-deny cannot stop early), so a thousand-row policy in
// one enforcer costs about half a millisecond per decision; indexed by role
// and action it costs a few dozen rows.
type compiled struct {
	buckets map[string]*casbin.Enforcer
	byKey   map[string][][]string // each bucket's rows, in file order
	origin  map[string]int        // rowKey(row) → line in the policy file
	name    string                // policy file name
	rows    [][]string
}

// enforce evaluates vals against the rows of bucket key. A bucket with no
// rows is a default deny: casbin given no rows at all would evaluate the
// matcher once with empty row values instead.
func (c *compiled) enforce(key string, vals ...interface{}) (bool, []string, error) {
	e, ok := c.buckets[key]
	if !ok {
		return false, nil, nil
	}
	return e.EnforceEx(vals...)
}

func rowKey(row []string) string { return strings.Join(row, "\x00") }

// ruleText renders a row the way it is written in the CSV, which is what an
// explanation should quote.
func ruleText(row []string) string { return "p, " + strings.Join(row, ", ") }

// compile builds an enforcer from files, or reports the first problem with
// its file and line. The enforcer is never modified afterwards, which is
// what makes concurrent Enforce calls on it safe.
func compile(f Files, s schema) (*compiled, error) {
	modelErr := func(format string, args ...any) error {
		return &PolicyError{File: f.ModelName, Problem: fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(f.Model)) == 0 {
		return nil, modelErr("model is empty")
	}
	m, err := model.NewModelFromString(string(f.Model))
	if err != nil {
		return nil, modelErr("%v", err)
	}
	if got, want := tokens(m, "r", "r", "r_"), s.request; !slices.Equal(got, want) {
		return nil, modelErr("request_definition must be r = %s (package policy fills these), got %s",
			strings.Join(want, ", "), strings.Join(got, ", "))
	}
	if got, want := tokens(m, "p", "p", "p_"), s.policy; !slices.Equal(got, want) {
		return nil, modelErr("policy_definition must be p = %s, got %s",
			strings.Join(want, ", "), strings.Join(got, ", "))
	}
	if ast, ok := m["e"]["e"]; !ok || ast.Value != constant.AllowAndDenyEffect {
		return nil, modelErr("policy_effect must be e = some(where (p.eft == allow)) && !some(where (p.eft == deny)): deny rows and explanations rely on it")
	}
	for _, name := range s.matchers {
		if _, ok := m["m"][name]; !ok {
			return nil, modelErr("matchers: %s is missing", name)
		}
	}
	for sec := range m {
		if sec == "g" {
			return nil, modelErr("role_definition is not supported: roles come from the subject, not from policy rows")
		}
	}

	// The strict adapter validates the whole file through casbin's own
	// loading path; the resulting model is then split into buckets.
	a := &csvAdapter{files: f, schema: s, origin: map[string]int{}}
	if _, err := casbin.NewEnforcer(m.Copy(), a); err != nil {
		return nil, err // csvAdapter's errors are already *PolicyError
	}
	byKey := map[string][][]string{}
	for _, row := range a.rows {
		keys := []string{""}
		if s.buckets != nil {
			keys = s.buckets(row)
		}
		for _, k := range keys {
			byKey[k] = append(byKey[k], row)
		}
	}
	c := &compiled{buckets: map[string]*casbin.Enforcer{}, byKey: byKey, origin: a.origin, name: f.PolicyName, rows: a.rows}
	for k, rows := range byKey {
		bm := m.Copy()
		bm.ClearPolicy()
		for _, row := range rows {
			if err := bm.AddPolicy("p", "p", row); err != nil {
				return nil, &PolicyError{File: f.PolicyName, Line: a.origin[rowKey(row)], Problem: err.Error()}
			}
		}
		enf, err := casbin.NewEnforcer(bm)
		if err != nil {
			return nil, modelErr("%v", err)
		}
		for name, fn := range matcherFunctions() {
			enf.AddFunction(name, fn)
		}
		c.buckets[k] = enf
	}
	return c, nil
}

func tokens(m model.Model, sec, key, prefix string) []string {
	ast, ok := m[sec][key]
	if !ok {
		return nil
	}
	out := make([]string, len(ast.Tokens))
	for i, t := range ast.Tokens {
		out[i] = strings.TrimPrefix(t, prefix)
	}
	return out
}

// csvAdapter loads a policy CSV strictly: casbin's own adapters skip lines
// they cannot parse, and a silently skipped deny row is a hole.
type csvAdapter struct {
	files  Files
	schema schema
	origin map[string]int
	rows   [][]string
}

var _ persist.Adapter = (*csvAdapter)(nil)

func (a *csvAdapter) LoadPolicy(m model.Model) error {
	lineErr := func(line int, format string, args ...any) error {
		return &PolicyError{File: a.files.PolicyName, Line: line, Problem: fmt.Sprintf(format, args...)}
	}
	for i, raw := range strings.Split(string(a.files.Policy), "\n") {
		line := i + 1
		text := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		r := csv.NewReader(strings.NewReader(text))
		r.TrimLeadingSpace = true
		fields, err := r.Read()
		if err != nil {
			return lineErr(line, "not a CSV row: %v", err)
		}
		for j := range fields {
			fields[j] = strings.TrimSpace(fields[j])
		}
		if fields[0] != "p" {
			return lineErr(line, "row type %q: only p rows are allowed", fields[0])
		}
		row := fields[1:]
		if len(row) != len(a.schema.policy) {
			return lineErr(line, "want %d columns after p (%s), got %d",
				len(a.schema.policy), strings.Join(a.schema.policy, ", "), len(row))
		}
		if err := a.schema.check(row); err != nil {
			return lineErr(line, "%s: %v", ruleText(row), err)
		}
		if prev, dup := a.origin[rowKey(row)]; dup {
			return lineErr(line, "duplicate of line %d", prev)
		}
		a.origin[rowKey(row)] = line
		a.rows = append(a.rows, row)
		if err := m.AddPolicy("p", "p", row); err != nil {
			return lineErr(line, "%v", err)
		}
	}
	if len(a.rows) == 0 {
		return &PolicyError{File: a.files.PolicyName, Problem: "no policy rows: everything would be denied"}
	}
	return nil
}

var errReadOnly = fmt.Errorf("policy: %w: the policy is edited in its file, not through the enforcer", ErrInvalidPolicy)

func (a *csvAdapter) SavePolicy(model.Model) error                { return errReadOnly }
func (a *csvAdapter) AddPolicy(string, string, []string) error    { return errReadOnly }
func (a *csvAdapter) RemovePolicy(string, string, []string) error { return errReadOnly }
func (a *csvAdapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errReadOnly
}
