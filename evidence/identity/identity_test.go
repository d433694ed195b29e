package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/pg/pgtest"
)

var cheap = identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestPasswordHash(t *testing.T) {
	h, err := identity.HashPassword("correct horse battery", identity.DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("not an argon2id PHC string: %s", h)
	}
	if ok, _ := identity.VerifyPassword("correct horse battery", h); !ok {
		t.Fatal("right password refused")
	}
	if ok, _ := identity.VerifyPassword("correct horse batterx", h); ok {
		t.Fatal("wrong password accepted")
	}
	if _, err := identity.HashPassword("short", cheap); !errors.Is(err, identity.ErrWeakPassword) {
		t.Fatalf("short password: %v", err)
	}
	if _, err := identity.VerifyPassword("x", "$2a$10$bcrypt"); err == nil {
		t.Fatal("foreign hash format accepted")
	}
}

func newStore(t *testing.T) *identity.Store {
	db := pgtest.NewDB(t)
	return identity.NewStore(db.Pool).WithArgon2(cheap)
}

func TestUsersTokensDocks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.CreateUnit(ctx, "patrol", "Patrol", ""); err != nil {
		t.Fatal(err)
	}
	north, err := s.CreateUnit(ctx, "north", "North", "patrol")
	if err != nil {
		t.Fatal(err)
	}
	if north.Path != "patrol.north" {
		t.Fatalf("path = %q", north.Path)
	}
	if _, err := s.CreateUnit(ctx, "patrol", "", ""); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("duplicate unit: %v", err)
	}
	u, err := s.CreateUser(ctx, identity.NewUser{Username: "sgt.lee", Password: "a long enough password", Role: "supervisor", Unit: "north"})
	if err != nil {
		t.Fatal(err)
	}
	if u.UnitPath != "patrol.north" || u.Role != "supervisor" {
		t.Fatalf("user = %+v", u)
	}
	for _, bad := range []identity.NewUser{
		{Username: "Bad Name", Password: "a long enough password", Role: "officer", Unit: "north"},
		{Username: "x", Password: "a long enough password", Role: "king", Unit: "north"},
		{Username: "y", Password: "a long enough password", Role: "officer", Unit: "nowhere"},
		{Username: "z", Password: "short", Role: "officer", Unit: "north"},
	} {
		var ie *identity.InvalidError
		if _, err := s.CreateUser(ctx, bad); !errors.As(err, &ie) {
			t.Errorf("%+v: want InvalidError, got %v", bad, err)
		}
	}
	token, _, err := s.CreateAPIToken(ctx, u.ID, "laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, token)
	if err != nil || p.Name != "sgt.lee" || p.Kind != identity.KindUser || p.UnitPath != "patrol.north" {
		t.Fatalf("auth = %+v, %v", p, err)
	}
	if _, err := s.Authenticate(ctx, token+"x"); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("tampered token: %v", err)
	}
	dock, dtok, err := s.EnrollDock(ctx, "station-1", "north", "HQ garage", &u.ID)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := s.Authenticate(ctx, dtok)
	if err != nil || dp.Kind != identity.KindDock || dp.ID != dock.ID || dp.Role != identity.RoleDock {
		t.Fatalf("dock auth = %+v, %v", dp, err)
	}
	if err := s.RevokeDock(ctx, dock.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, dtok); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("revoked dock: %v", err)
	}
	if err := s.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	// Disabling revokes the user's tokens for good (re-enabling does not
	// bring them back).
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("disabled user token: %v", err)
	}
	if err := s.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("token after re-enabling: %v", err)
	}
	// A password reset revokes tokens and ends sessions.
	token2, _, err := s.CreateAPIToken(ctx, u.ID, "two", nil)
	if err != nil {
		t.Fatal(err)
	}
	cookie, _, _ := s.CreateSession(ctx, u.ID, false, time.Hour, "")
	if err := s.SetPassword(ctx, u.ID, "another long enough password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, token2); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("token after password reset: %v", err)
	}
	if _, _, err := s.ResumeSession(ctx, cookie, time.Hour); err == nil {
		t.Fatal("session survived a password reset")
	}
	list, err := s.APITokens(ctx, u.ID)
	if err != nil || len(list) < 2 || list[0].RevokedAt == nil {
		t.Fatalf("token list %+v %v", list, err)
	}
}

func TestTokenExpiryCapped(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.TokenMaxLifetime = 24 * time.Hour
	s.CreateUnit(ctx, "hq", "HQ", "")
	u, err := s.CreateUser(ctx, identity.NewUser{Username: "amy", Password: "a long enough password", Role: "records", Unit: "hq"})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := s.CreateAPIToken(ctx, u.ID, "default", nil)
	if err != nil || tok.ExpiresAt == nil || tok.ExpiresAt.After(time.Now().Add(24*time.Hour+time.Second)) {
		t.Fatalf("default expiry %+v %v", tok, err)
	}
	far, past := time.Now().Add(48*time.Hour), time.Now().Add(-time.Minute)
	for name, exp := range map[string]*time.Time{"beyond max": &far, "past": &past} {
		var ie *identity.InvalidError
		if _, _, err := s.CreateAPIToken(ctx, u.ID, name, exp); !errors.As(err, &ie) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLoginLockoutAndSessions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.Lockout = identity.Lockout{Attempts: 3, Duration: time.Hour}
	s.CreateUnit(ctx, "hq", "HQ", "")
	if _, err := s.CreateUser(ctx, identity.NewUser{Username: "amy", Password: "a long enough password", Role: "records", Unit: "hq"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "nobody", "whatever password"); !errors.Is(err, identity.ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	u, err := s.CheckPassword(ctx, "amy", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.CheckPassword(ctx, "amy", "wrong password!!"); !errors.Is(err, identity.ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := s.CheckPassword(ctx, "amy", "a long enough password"); !errors.Is(err, identity.ErrLocked) {
		t.Fatalf("after lockout the right password must be refused: %v", err)
	}
	cookie, sess, err := s.CreateSession(ctx, u.ID, false, time.Hour, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	got, gs, err := s.ResumeSession(ctx, cookie, time.Minute)
	if err != nil || got.ID != u.ID || gs.CSRFToken != sess.CSRFToken {
		t.Fatalf("resume: %v", err)
	}
	if _, _, err := s.ResumeSession(ctx, cookie, -time.Second); !errors.Is(err, identity.ErrSessionExpired) {
		t.Fatalf("idle session: %v", err)
	}
	if _, _, err := s.ResumeSession(ctx, cookie, time.Hour); !errors.Is(err, identity.ErrSessionExpired) {
		t.Fatalf("an expired session must be gone: %v", err)
	}
	cookie2, _, _ := s.CreateSession(ctx, u.ID, false, time.Hour, "")
	s.EndSession(ctx, cookie2)
	if _, _, err := s.ResumeSession(ctx, cookie2, time.Hour); !errors.Is(err, identity.ErrSessionExpired) {
		t.Fatalf("logged-out session: %v", err)
	}
}

// A dock's or token's use is written to the database at most once a
// minute per process (an agent makes several calls a second while
// uploading), but the credential itself is checked on every request: a
// revocation by another process is refused at the very next one.
func TestUseThrottledRevocationImmediate(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	server := identity.NewStore(db.Pool).WithArgon2(cheap)
	admin := identity.NewStore(db.Pool).WithArgon2(cheap) // another process
	if _, err := server.CreateUnit(ctx, "north", "North", ""); err != nil {
		t.Fatal(err)
	}
	u, err := server.CreateUser(ctx, identity.NewUser{Username: "ofc.kim", Password: "a long enough password", Role: "officer", Unit: "north"})
	if err != nil {
		t.Fatal(err)
	}
	token, tok, err := server.CreateAPIToken(ctx, u.ID, "laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	dock, dtok, err := admin.EnrollDock(ctx, "station-1", "north", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := server.Authenticate(ctx, dtok); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Authenticate(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	var seen, used *time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT last_seen_at FROM docks WHERE id = $1`, dock.ID).Scan(&seen); err != nil || seen == nil {
		t.Fatalf("dock use not recorded: %v %v", seen, err)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT last_used_at FROM api_tokens WHERE id = $1`, tok.ID).Scan(&used); err != nil || used == nil {
		t.Fatalf("token use not recorded: %v %v", used, err)
	}
	if err := admin.RevokeDock(ctx, dock.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Authenticate(ctx, dtok); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("dock revoked elsewhere, next request: %v", err)
	}
	if err := admin.RevokeAPIToken(ctx, u.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Authenticate(ctx, token); !errors.Is(err, identity.ErrRevoked) {
		t.Fatalf("token revoked elsewhere, next request: %v", err)
	}
}
