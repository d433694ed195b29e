package retention

import (
	"strings"

	"github.com/opendems/opendems/evidence/identity"
)

// mayExplainUser reports whether caller may see an explanation of u's
// access (which names u's role, unit and groups). Auditors and
// administrators see everyone's; anyone else only their own and that of
// users in their unit or below it. Others answer like a missing user, so
// the route is not a directory of the agency (issue 11).
func mayExplainUser(caller identity.Principal, u identity.User) bool {
	switch {
	case caller.Kind != identity.KindUser:
		return false
	case caller.ID == u.ID, caller.Role == identity.RoleAdmin, caller.Role == identity.RoleAuditor:
		return true
	}
	return caller.UnitPath != "" && (u.UnitPath == caller.UnitPath || strings.HasPrefix(u.UnitPath, caller.UnitPath+"."))
}
