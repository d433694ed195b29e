package devseed

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"

	"github.com/opendems/opendems/evidence/identity"
)

// Credentials is var/dev-credentials.json (see ARCHITECTURE.md).
type Credentials struct {
	URL   string     `json:"url"`
	Users []DemoUser `json:"users"`
	Dock  DemoDock   `json:"dock"`
	// DemoRequest is the seeded public access request (SeedDemoRequest);
	// absent when none was seeded with these credentials.
	DemoRequest *DemoRequest `json:"demo_request,omitempty"`
}

// DemoUser is one seeded account.
type DemoUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
	Unit     string `json:"unit"`
	APIToken string `json:"api_token"`
}

// DemoDock is the seeded docking station.
type DemoDock struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

type demoUnit struct{ slug, name, parent string }

// The demo agency: a headquarters with two patrol units, so access control
// can be seen working (each unit's officer and supervisor see only their
// unit's footage; records, auditor and admin are agency-wide).
var demoUnits = []demoUnit{
	{"hq", "Headquarters", ""},
	{"north", "North Patrol", "hq"},
	{"south", "South Patrol", "hq"},
}

var demoUsers = []identity.NewUser{
	{Username: "officer.north", Role: "officer", Unit: "north", DisplayName: "Officer Nora North", Badge: "N1001"},
	{Username: "sgt.north", Role: "supervisor", Unit: "north", DisplayName: "Sgt. Ned North", Badge: "N2001"},
	{Username: "officer.south", Role: "officer", Unit: "south", DisplayName: "Officer Sam South", Badge: "S1001"},
	{Username: "sgt.south", Role: "supervisor", Unit: "south", DisplayName: "Sgt. Sue South", Badge: "S2001"},
	{Username: "records", Role: "records", Unit: "hq", DisplayName: "Rita Records", Badge: "R3001"},
	{Username: "auditor", Role: "auditor", Unit: "hq", DisplayName: "Aldo Auditor", Badge: "A4001"},
	{Username: "admin", Role: "admin", Unit: "hq", DisplayName: "Ada Admin", Badge: "A5001"},
}

const demoDockName = "dock-north-1"

// SeedDemo creates the demo agency on an empty database and writes the
// credentials file. On later starts it reads the file back; if the file is
// missing, demo passwords and tokens are reset (they are shown only once).
func SeedDemo(ctx context.Context, a *App, credPath, url string) (Credentials, error) {
	if b, err := os.ReadFile(credPath); err == nil {
		var c Credentials
		if json.Unmarshal(b, &c) == nil && len(c.Users) > 0 {
			if _, err := a.Identity.UserByName(ctx, c.Users[0].Username); err == nil {
				c.URL = url
				return c, writeJSON(credPath, c)
			}
		}
	}
	creds := Credentials{URL: url}
	for _, u := range demoUnits {
		if _, err := a.Identity.CreateUnit(ctx, u.slug, u.name, u.parent); err != nil && !errors.Is(err, identity.ErrExists) {
			return creds, fmt.Errorf("seed unit %s: %w", u.slug, err)
		}
	}
	for _, nu := range demoUsers {
		nu.Password = randomPassword()
		u, err := a.Identity.CreateUser(ctx, nu)
		if errors.Is(err, identity.ErrExists) {
			if u, err = a.Identity.UserByName(ctx, nu.Username); err == nil {
				err = a.Identity.SetPassword(ctx, u.ID, nu.Password)
			}
		}
		if err != nil {
			return creds, fmt.Errorf("seed user %s: %w", nu.Username, err)
		}
		token, _, err := a.Identity.CreateAPIToken(ctx, u.ID, "dev", nil)
		if err != nil {
			return creds, err
		}
		creds.Users = append(creds.Users, DemoUser{Username: u.Username, Password: nu.Password, Role: u.Role, Unit: u.Unit, APIToken: token})
	}
	docks, err := a.Identity.Docks(ctx)
	if err != nil {
		return creds, err
	}
	for _, d := range docks {
		if d.Name == demoDockName && d.RevokedAt == nil {
			a.Identity.RevokeDock(ctx, d.ID) // its token is lost with the file
		}
	}
	name := demoDockName
	if len(docks) > 0 {
		name = fmt.Sprintf("%s-%d", demoDockName, len(docks)+1)
	}
	d, token, err := a.Identity.EnrollDock(ctx, name, "north", "North Patrol garage", nil)
	if err != nil {
		return creds, fmt.Errorf("seed dock: %w", err)
	}
	creds.Dock = DemoDock{ID: d.ID.String(), Token: token}
	return creds, writeJSON(credPath, creds)
}

// WriteCredentials writes c to path (var/dev-credentials.json), e.g. once
// SeedDemoRequest has added the demo request.
func WriteCredentials(path string, c Credentials) error { return writeJSON(path, c) }

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func randomPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}
