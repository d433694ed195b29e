package policy

import (
	"fmt"
	"slices"
)

// ListScope tells a listing query which items a subject could possibly be
// allowed an action on, so the database filters before policy decides
// item by item. It is a superset: category rows, deny rows and restricted
// items are not reflected, so the caller must still Decide on each item it
// returns (and drop the ones denied). An item matches when AllUnits, or its
// unit lies within one of Units, or its officer is OwnerBadge, or it is
// restricted to one of Groups.
type ListScope struct {
	AllUnits   bool     `json:"all_units"`
	Units      []string `json:"units,omitempty"`
	OwnerBadge string   `json:"owner_badge,omitempty"`
	Groups     []string `json:"groups,omitempty"`
}

// Empty reports whether no item can match: the listing is empty.
func (s ListScope) Empty() bool {
	return !s.AllUnits && len(s.Units) == 0 && s.OwnerBadge == "" && len(s.Groups) == 0
}

// Matches reports whether res falls inside the scope.
func (s ListScope) Matches(res Resource) bool {
	if s.AllUnits || (s.OwnerBadge != "" && res.OfficerID == s.OwnerBadge) ||
		(res.Restricted != "" && slices.Contains(s.Groups, res.Restricted)) {
		return true
	}
	for _, u := range s.Units {
		if UnitWithin(res.UnitPath, u) {
			return true
		}
	}
	return false
}

// ListScope derives the scope of act (usually evidence:list or
// evidence:view) for sub from the allow rows of the policy in force.
func (a *Access) ListScope(sub Subject, act Action) (ListScope, error) {
	if sub.Kind == "" {
		sub.Kind = KindUser
	}
	if err := sub.validate(); err != nil {
		return ListScope{}, err
	}
	if !act.Valid() {
		return ListScope{}, fmt.Errorf("policy: list scope %q: %w", act, ErrUnknownAction)
	}
	var s ListScope
	var units []string
	for _, row := range a.state.Load().c.byKey[bucketKey(sub.Role, act)] {
		unit, scope, eft := row[1], row[4], row[5]
		if eft != "allow" {
			continue
		}
		switch scope {
		case "any":
			if unit == "*" {
				s.AllUnits = true
			} else {
				units = append(units, unit)
			}
		case "unit":
			switch {
			case unit == "*" || UnitWithin(sub.UnitPath, unit):
				units = append(units, sub.UnitPath)
			case UnitWithin(unit, sub.UnitPath):
				units = append(units, unit)
			}
		case "own":
			s.OwnerBadge = sub.Badge
		case "group":
			s.Groups = append([]string(nil), sub.Groups...)
		}
	}
	if s.AllUnits {
		return ListScope{AllUnits: true}, nil
	}
	// Keep only the outermost units: a sub-unit adds nothing to its parent.
	slices.Sort(units)
	for _, u := range slices.Compact(units) {
		covered := false
		for _, v := range s.Units {
			if UnitWithin(u, v) {
				covered = true
				break
			}
		}
		if !covered {
			s.Units = append(s.Units, u)
		}
	}
	return s, nil
}
