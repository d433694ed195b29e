package policy

import (
	"fmt"

	"github.com/casbin/govaluate"
)

// matcherFunctions are the custom functions the access and purge models may
// call. They are registered on each enforcer (never globally) and type-check
// their arguments, so a model edited to call them wrongly fails the load-time
// self-check instead of panicking on a request.
func matcherFunctions() map[string]govaluate.ExpressionFunction {
	return map[string]govaluate.ExpressionFunction{
		"unitWithin": func(args ...interface{}) (interface{}, error) {
			a, b, err := twoStrings("unitWithin", args)
			if err != nil {
				return nil, err
			}
			return UnitWithin(a, b), nil
		},
		"unitOverlaps": func(args ...interface{}) (interface{}, error) {
			a, b, err := twoStrings("unitOverlaps", args)
			if err != nil {
				return nil, err
			}
			return unitOverlaps(a, b), nil
		},
		"actionMatch": func(args ...interface{}) (interface{}, error) {
			a, b, err := twoStrings("actionMatch", args)
			if err != nil {
				return nil, err
			}
			return actionMatches(a, b), nil
		},
		"categoryMatch": func(args ...interface{}) (interface{}, error) {
			set, name, err := setAndString("categoryMatch", args)
			if err != nil {
				return nil, err
			}
			return name == "*" || contains(set, name), nil
		},
		"inGroup": func(args ...interface{}) (interface{}, error) {
			set, name, err := setAndString("inGroup", args)
			if err != nil {
				return nil, err
			}
			return name != "" && contains(set, name), nil
		},
		"hasFact": func(args ...interface{}) (interface{}, error) {
			set, name, err := setAndString("hasFact", args)
			if err != nil {
				return nil, err
			}
			return contains(set, name), nil
		},
		"hasGroups": func(args ...interface{}) (interface{}, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("hasGroups: want 1 argument, got %d", len(args))
			}
			set, ok := args[0].([]string)
			if !ok {
				return nil, fmt.Errorf("hasGroups: argument is %T, want a list", args[0])
			}
			return len(set) > 0, nil
		},
	}
}

func twoStrings(fn string, args []interface{}) (string, string, error) {
	if len(args) != 2 {
		return "", "", fmt.Errorf("%s: want 2 arguments, got %d", fn, len(args))
	}
	a, ok1 := args[0].(string)
	b, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return "", "", fmt.Errorf("%s: arguments are %T, %T, want strings", fn, args[0], args[1])
	}
	return a, b, nil
}

func setAndString(fn string, args []interface{}) ([]string, string, error) {
	if len(args) != 2 {
		return nil, "", fmt.Errorf("%s: want 2 arguments, got %d", fn, len(args))
	}
	set, ok1 := args[0].([]string)
	name, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return nil, "", fmt.Errorf("%s: arguments are %T, %T, want a list and a string", fn, args[0], args[1])
	}
	return set, name, nil
}

func contains(set []string, s string) bool {
	for _, v := range set {
		if v == s {
			return true
		}
	}
	return false
}
