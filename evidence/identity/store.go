package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opendems/opendems/evidence"
)

// Errors callers decide on. Each carries its evidence kind (the API maps
// kinds to statuses) and its own code, so clients tell them apart; a
// missing user, unit, dock or token is plain evidence.ErrNotFound.
var (
	ErrExists         = &evidence.Error{Kind: evidence.ErrConflict, Code: "exists", Msg: "already exists"}
	ErrBadCredentials = &evidence.Error{Kind: evidence.ErrUnauthenticated, Msg: "invalid credentials"}
	ErrLocked         = &evidence.Error{Kind: evidence.ErrRateLimited, Code: "locked", Msg: "account temporarily locked after repeated failed logins"}
	ErrRevoked        = &evidence.Error{Kind: evidence.ErrUnauthenticated, Code: "revoked", Msg: "credential revoked"}
	ErrDisabled       = &evidence.Error{Kind: evidence.ErrUnauthenticated, Code: "disabled", Msg: "account disabled"}
	ErrSessionExpired = &evidence.Error{Kind: evidence.ErrUnauthenticated, Code: "session_expired", Msg: "session expired; log in again"}
)

// InvalidError names a bad field of a request (kind evidence.ErrInvalid).
type InvalidError struct{ Field, Reason string }

// Unwrap gives the error its kind.
func (e *InvalidError) Unwrap() error { return evidence.ErrInvalid }

func (e *InvalidError) Error() string { return e.Field + ": " + e.Reason }

// Store keeps identities in PostgreSQL.
type Store struct {
	db      *pgxpool.Pool
	argon   Argon2Params
	now     func() time.Time
	Lockout Lockout
	// MFALimit bounds wrong second-factor codes (zero: DefaultMFALimit).
	MFALimit MFALimit
	// TokenMaxLifetime caps personal API tokens' lifetime; a token asked
	// for without an expiry gets this one (0: no cap, no default expiry).
	TokenMaxLifetime time.Duration
	// OnMFALock, if set, is called after a second-factor lock is set
	// (the server records it in the audit log).
	OnMFALock func(context.Context, MFALockEvent)

	dummyOnce sync.Once
	dummy     string

	// touched is when this process last recorded a token's or dock's use
	// (uuid.UUID -> time.Time), so an agent's every request does not cost
	// a write round trip for a timestamp kept to the minute. Only the
	// last-used timestamp is throttled: the token itself is checked
	// against the database on every request, so a revocation takes
	// effect at the next one.
	touched sync.Map
}

// touchInterval is the resolution of last_used_at and last_seen_at.
const touchInterval = time.Minute

// shouldTouch reports whether id's last use is older here than
// touchInterval, and if so notes this one.
func (s *Store) shouldTouch(id uuid.UUID) bool {
	now := time.Now()
	if v, ok := s.touched.Load(id); ok && now.Sub(v.(time.Time)) < touchInterval {
		return false
	}
	s.touched.Store(id, now)
	return true
}

// Lockout is the failed-login policy.
type Lockout struct {
	Attempts int
	Duration time.Duration
}

// NewStore returns a store over db.
func NewStore(db *pgxpool.Pool) *Store {
	return &Store{db: db, argon: DefaultArgon2, now: time.Now, Lockout: Lockout{Attempts: 5, Duration: 15 * time.Minute}}
}

// WithArgon2 sets the hashing cost (tests use a cheap one).
func (s *Store) WithArgon2(p Argon2Params) *Store { s.argon = p; return s }

// Unit is an organisational unit.
type Unit struct {
	ID       uuid.UUID  `json:"id"`
	Slug     string     `json:"slug"`
	Name     string     `json:"name"`
	ParentID *uuid.UUID `json:"parent_id,omitempty"`
	Path     string     `json:"path"`
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CreateUnit adds a unit under parentSlug ("" for a top-level unit).
func (s *Store) CreateUnit(ctx context.Context, slug, name, parentSlug string) (Unit, error) {
	if !slugRE.MatchString(slug) {
		return Unit{}, &InvalidError{"slug", "lower-case letters, digits and dashes, starting with a letter or digit"}
	}
	if strings.TrimSpace(name) == "" {
		name = slug
	}
	u := Unit{Slug: slug, Name: name, Path: slug}
	if parentSlug != "" {
		parent, err := s.UnitBySlug(ctx, parentSlug)
		if err != nil {
			return Unit{}, fmt.Errorf("parent %q: %w", parentSlug, err)
		}
		u.ParentID = &parent.ID
		u.Path = parent.Path + "." + slug
	}
	err := s.db.QueryRow(ctx, `INSERT INTO units(slug, name, parent_id, path) VALUES ($1,$2,$3,$4) RETURNING id`,
		u.Slug, u.Name, u.ParentID, u.Path).Scan(&u.ID)
	if isUnique(err) {
		return Unit{}, fmt.Errorf("unit %q: %w", slug, ErrExists)
	}
	return u, err
}

// UnitBySlug finds a unit.
func (s *Store) UnitBySlug(ctx context.Context, slug string) (Unit, error) {
	var u Unit
	err := s.db.QueryRow(ctx, `SELECT id, slug, name, parent_id, path FROM units WHERE slug = $1`, slug).
		Scan(&u.ID, &u.Slug, &u.Name, &u.ParentID, &u.Path)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("unit %q: %w", slug, evidence.ErrNotFound)
	}
	return u, err
}

// Units lists all units by path.
func (s *Store) Units(ctx context.Context) ([]Unit, error) {
	rows, err := s.db.Query(ctx, `SELECT id, slug, name, parent_id, path FROM units ORDER BY path`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Unit, error) {
		var u Unit
		err := r.Scan(&u.ID, &u.Slug, &u.Name, &u.ParentID, &u.Path)
		return u, err
	})
}

// User is a person's account (never carries the password hash out).
type User struct {
	ID          uuid.UUID  `json:"id"`
	Username    string     `json:"username"`
	DisplayName string     `json:"display_name"`
	Role        string     `json:"role"`
	Unit        string     `json:"unit"`
	UnitID      uuid.UUID  `json:"unit_id"`
	UnitPath    string     `json:"unit_path"`
	Badge       string     `json:"badge"`
	MFAEnrolled bool       `json:"mfa_enrolled"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Principal returns the user as a principal.
func (u User) Principal(via string) Principal {
	return Principal{Kind: KindUser, ID: u.ID, Name: u.Username, Role: u.Role, UnitID: u.UnitID, UnitPath: u.UnitPath, Badge: u.Badge, Via: via}
}

// NewUser is a request to create an account.
type NewUser struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	Role        string `json:"role"`
	Unit        string `json:"unit"` // unit slug
	DisplayName string `json:"display_name"`
	Badge       string `json:"badge"`
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// CreateUser adds an account with an argon2id password hash.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (User, error) {
	if !usernameRE.MatchString(n.Username) {
		return User{}, &InvalidError{"username", "lower-case letters, digits, '.', '_' and '-', at most 63 characters"}
	}
	if !slices.Contains(Roles, n.Role) {
		return User{}, &InvalidError{"role", "want one of " + strings.Join(Roles, ", ")}
	}
	unit, err := s.UnitBySlug(ctx, n.Unit)
	if err != nil {
		if errors.Is(err, evidence.ErrNotFound) {
			return User{}, &InvalidError{"unit", fmt.Sprintf("no unit %q", n.Unit)}
		}
		return User{}, err
	}
	hash, err := HashPassword(n.Password, s.argon)
	if err != nil {
		return User{}, &InvalidError{"password", err.Error()}
	}
	var id uuid.UUID
	err = s.db.QueryRow(ctx, `INSERT INTO users(username, display_name, role, unit_id, badge, password_hash)
		VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`, n.Username, n.DisplayName, n.Role, unit.ID, n.Badge, hash).Scan(&id)
	if isUnique(err) {
		return User{}, fmt.Errorf("user %q: %w", n.Username, ErrExists)
	}
	if err != nil {
		return User{}, err
	}
	return s.UserByID(ctx, id)
}

const userCols = `u.id, u.username, u.display_name, u.role, n.slug, u.unit_id, n.path, u.badge, u.totp_secret IS NOT NULL, u.disabled_at, u.created_at`

func scanUser(r pgx.Row) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Role, &u.Unit, &u.UnitID, &u.UnitPath, &u.Badge, &u.MFAEnrolled, &u.DisabledAt, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, evidence.ErrNotFound
	}
	return u, err
}

// UserByID finds an account.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users u JOIN units n ON n.id = u.unit_id WHERE u.id = $1`, id))
}

// UserByName finds an account.
func (s *Store) UserByName(ctx context.Context, username string) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users u JOIN units n ON n.id = u.unit_id WHERE u.username = $1`, username))
}

// Users lists accounts.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM users u JOIN units n ON n.id = u.unit_id ORDER BY u.username`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
}

// SetPassword replaces a user's password.
func (s *Store) SetPassword(ctx context.Context, userID uuid.UUID, password string) error {
	hash, err := HashPassword(password, s.argon)
	if err != nil {
		return &InvalidError{"password", err.Error()}
	}
	// A new password ends every way in that the old one opened: web
	// sessions and personal API tokens (someone who learned the old
	// password may have made either).
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, userID, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return evidence.ErrNotFound
		}
		return endAccess(ctx, tx, userID)
	})
}

// endAccess ends a user's web sessions and revokes their API tokens.
func endAccess(ctx context.Context, tx pgx.Tx, userID uuid.UUID) error {
	if _, err := tx.Exec(ctx, `DELETE FROM web_sessions WHERE user_id = $1`, userID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, userID)
	return err
}

// SetRoleUnit changes a user's role and/or unit (empty: unchanged). The
// user's web sessions end, so the new permissions apply at once.
func (s *Store) SetRoleUnit(ctx context.Context, userID uuid.UUID, role, unitSlug string) error {
	if role != "" && !slices.Contains(Roles, role) {
		return &InvalidError{"role", "want one of " + strings.Join(Roles, ", ")}
	}
	var unitID *uuid.UUID
	if unitSlug != "" {
		u, err := s.UnitBySlug(ctx, unitSlug)
		if err != nil {
			if errors.Is(err, evidence.ErrNotFound) {
				return &InvalidError{"unit", fmt.Sprintf("no unit %q", unitSlug)}
			}
			return err
		}
		unitID = &u.ID
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET role = COALESCE(NULLIF($2, ''), role), unit_id = COALESCE($3, unit_id), updated_at = now() WHERE id = $1`, userID, role, unitID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return evidence.ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM web_sessions WHERE user_id = $1`, userID)
		return err
	})
}

// SetDisabled disables or re-enables an account; disabling also ends its
// sessions and revokes its API tokens' use (checked at authentication).
func (s *Store) SetDisabled(ctx context.Context, userID uuid.UUID, disabled bool) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled_at = CASE WHEN $2 THEN now() ELSE NULL END, updated_at = now() WHERE id = $1`, userID, disabled)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return evidence.ErrNotFound
		}
		if disabled {
			// Tokens are revoked for good: re-enabling the account
			// must not bring old tokens back.
			err = endAccess(ctx, tx, userID)
		}
		return err
	})
}

// CheckPassword verifies a login. It counts failures and locks the account
// for Lockout.Duration after Lockout.Attempts consecutive failures. Unknown
// users and wrong passwords give the same error, and cost the same time.
func (s *Store) CheckPassword(ctx context.Context, username, password string) (User, error) {
	var id uuid.UUID
	var hash string
	var failed int
	var lockedUntil, disabled *time.Time
	err := s.db.QueryRow(ctx, `SELECT id, password_hash, failed_logins, locked_until, disabled_at FROM users WHERE username = $1`, username).
		Scan(&id, &hash, &failed, &lockedUntil, &disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		// Spend the same work as a real check so timing does not reveal
		// which usernames exist.
		VerifyPassword(password, s.dummyHash())
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if lockedUntil != nil && s.now().Before(*lockedUntil) {
		return User{}, ErrLocked
	}
	ok, err := VerifyPassword(password, hash)
	if err != nil {
		return User{}, err
	}
	if !ok {
		_, err := s.db.Exec(ctx, `UPDATE users SET failed_logins = failed_logins + 1,
			locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3::timestamptz ELSE locked_until END WHERE id = $1`,
			id, s.Lockout.Attempts, s.now().Add(s.Lockout.Duration))
		if err != nil {
			return User{}, err
		}
		return User{}, ErrBadCredentials
	}
	if disabled != nil {
		return User{}, ErrDisabled
	}
	if failed > 0 || lockedUntil != nil {
		if _, err := s.db.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1`, id); err != nil {
			return User{}, err
		}
	}
	return s.UserByID(ctx, id)
}

// dummyHash is a hash at the store's cost, to spend equal time on unknown
// usernames.
func (s *Store) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = HashPassword("not-a-real-password-at-all", s.argon) })
	return s.dummy
}

// APIToken describes a personal token (never the token itself).
type APIToken struct {
	ID        uuid.UUID  `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// LastUsedAt is to the minute (updated at most once a minute).
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// CreateAPIToken issues a personal token; the token is returned once.
// expires must lie in the future and within TokenMaxLifetime (nil: the
// maximum, or no expiry when there is no maximum).
func (s *Store) CreateAPIToken(ctx context.Context, userID uuid.UUID, name string, expires *time.Time) (string, APIToken, error) {
	now := s.now()
	if expires != nil && !expires.After(now) {
		return "", APIToken{}, &InvalidError{"expires_at", "must be in the future"}
	}
	if max := s.TokenMaxLifetime; max > 0 {
		latest := now.Add(max)
		if expires == nil {
			expires = &latest
		} else if expires.After(latest.Add(time.Minute)) {
			return "", APIToken{}, &InvalidError{"expires_at", fmt.Sprintf("must be within %s (the configured maximum)", max)}
		}
	}
	if len(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", APIToken{}, &InvalidError{"name", "at most 100 characters, no control characters"}
	}
	token, prefix, hash := newToken(UserTokenPrefix)
	t := APIToken{Name: name, Prefix: prefix, ExpiresAt: expires}
	err := s.db.QueryRow(ctx, `INSERT INTO api_tokens(user_id, name, prefix, token_hash, expires_at) VALUES ($1,$2,$3,$4,$5) RETURNING id, created_at`,
		userID, name, prefix, hash, expires).Scan(&t.ID, &t.CreatedAt)
	return token, t, err
}

// APITokens lists a user's personal tokens, newest first (never the
// tokens themselves), revoked and expired ones included so the owner can
// see what existed.
func (s *Store) APITokens(ctx context.Context, userID uuid.UUID) ([]APIToken, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, prefix, created_at, expires_at, revoked_at, last_used_at
		FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) {
		var t APIToken
		err := r.Scan(&t.ID, &t.Name, &t.Prefix, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken revokes one of a user's tokens.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, tokenID uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, tokenID, userID)
	if err == nil && tag.RowsAffected() == 0 {
		return evidence.ErrNotFound
	}
	return err
}

// Dock is an enrolled docking station.
type Dock struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Unit       string     `json:"unit"`
	UnitID     uuid.UUID  `json:"unit_id"`
	Location   string     `json:"location"`
	Prefix     string     `json:"token_prefix"`
	EnrolledAt time.Time  `json:"enrolled_at"`
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// EnrollDock registers a docking station of a unit and returns its token
// (shown once).
func (s *Store) EnrollDock(ctx context.Context, name, unitSlug, location string, by *uuid.UUID) (Dock, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return Dock{}, "", &InvalidError{"name", "required, at most 100 characters, no control characters"}
	}
	unit, err := s.UnitBySlug(ctx, unitSlug)
	if err != nil {
		if errors.Is(err, evidence.ErrNotFound) {
			return Dock{}, "", &InvalidError{"unit", fmt.Sprintf("no unit %q", unitSlug)}
		}
		return Dock{}, "", err
	}
	token, prefix, hash := newToken(DockTokenPrefix)
	var id uuid.UUID
	err = s.db.QueryRow(ctx, `INSERT INTO docks(name, unit_id, location, token_prefix, token_hash, enrolled_by) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`,
		name, unit.ID, location, prefix, hash, by).Scan(&id)
	if isUnique(err) {
		return Dock{}, "", fmt.Errorf("dock %q: %w", name, ErrExists)
	}
	if err != nil {
		return Dock{}, "", err
	}
	d, err := s.DockByID(ctx, id)
	return d, token, err
}

const dockCols = `d.id, d.name, n.slug, d.unit_id, d.location, d.token_prefix, d.enrolled_at, d.last_seen_at, d.revoked_at`

func scanDock(r pgx.Row) (Dock, error) {
	var d Dock
	err := r.Scan(&d.ID, &d.Name, &d.Unit, &d.UnitID, &d.Location, &d.Prefix, &d.EnrolledAt, &d.LastSeenAt, &d.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, evidence.ErrNotFound
	}
	return d, err
}

// DockByID finds a dock.
func (s *Store) DockByID(ctx context.Context, id uuid.UUID) (Dock, error) {
	return scanDock(s.db.QueryRow(ctx, `SELECT `+dockCols+` FROM docks d JOIN units n ON n.id = d.unit_id WHERE d.id = $1`, id))
}

// Docks lists docks.
func (s *Store) Docks(ctx context.Context) ([]Dock, error) {
	rows, err := s.db.Query(ctx, `SELECT `+dockCols+` FROM docks d JOIN units n ON n.id = d.unit_id ORDER BY d.name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Dock, error) { return scanDock(r) })
}

// RevokeDock refuses the dock's token from now on.
func (s *Store) RevokeDock(ctx context.Context, id uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `UPDATE docks SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return evidence.ErrNotFound
	}
	return err
}

// Authenticate resolves a bearer token (user or dock) to a principal.
// Revoked, expired or unknown tokens and disabled accounts are refused.
func (s *Store) Authenticate(ctx context.Context, token string) (Principal, error) {
	switch {
	case strings.HasPrefix(token, UserTokenPrefix):
		var p Principal
		var revoked, expires, disabled *time.Time
		var tokID uuid.UUID
		err := s.db.QueryRow(ctx, `SELECT t.id, t.revoked_at, t.expires_at, u.id, u.username, u.role, u.unit_id, n.path, u.badge, u.disabled_at
			FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN units n ON n.id = u.unit_id WHERE t.token_hash = $1`, hashToken(token)).
			Scan(&tokID, &revoked, &expires, &p.ID, &p.Name, &p.Role, &p.UnitID, &p.UnitPath, &p.Badge, &disabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return Principal{}, ErrBadCredentials
		}
		if err != nil {
			return Principal{}, err
		}
		switch {
		case revoked != nil:
			return Principal{}, ErrRevoked
		case expires != nil && s.now().After(*expires):
			return Principal{}, ErrRevoked
		case disabled != nil:
			return Principal{}, ErrDisabled
		}
		p.Kind, p.Via = KindUser, "token"
		if s.shouldTouch(tokID) {
			s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, tokID)
		}
		return p, nil
	case strings.HasPrefix(token, DockTokenPrefix):
		var p Principal
		var revoked *time.Time
		err := s.db.QueryRow(ctx, `SELECT d.id, d.name, d.unit_id, n.path, d.revoked_at FROM docks d JOIN units n ON n.id = d.unit_id WHERE d.token_hash = $1`, hashToken(token)).
			Scan(&p.ID, &p.Name, &p.UnitID, &p.UnitPath, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return Principal{}, ErrBadCredentials
		}
		if err != nil {
			return Principal{}, err
		}
		if revoked != nil {
			return Principal{}, ErrRevoked
		}
		p.Kind, p.Role, p.Via = KindDock, RoleDock, "dock-token"
		if s.shouldTouch(p.ID) {
			s.db.Exec(ctx, `UPDATE docks SET last_seen_at = now() WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < now() - interval '1 minute')`, p.ID)
		}
		return p, nil
	}
	return Principal{}, ErrBadCredentials
}

// Session is a web session.
type Session struct {
	UserID    uuid.UUID
	CSRFToken string
	MFAPassed bool
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateSession starts a web session and returns the cookie value (shown
// only to the browser; the database keeps its SHA-256).
func (s *Store) CreateSession(ctx context.Context, userID uuid.UUID, mfaPassed bool, maxAge time.Duration, sourceAddr string) (string, Session, error) {
	id := randomString(32)
	sess := Session{UserID: userID, CSRFToken: randomString(32), MFAPassed: mfaPassed, CreatedAt: s.now(), ExpiresAt: s.now().Add(maxAge)}
	h := sha256.Sum256([]byte(id))
	_, err := s.db.Exec(ctx, `INSERT INTO web_sessions(id_hash, user_id, csrf_token, mfa_passed, created_at, last_seen_at, expires_at, source_addr)
		VALUES ($1,$2,$3,$4,$5,$5,$6,$7)`, h[:], userID, sess.CSRFToken, mfaPassed, sess.CreatedAt, sess.ExpiresAt, sourceAddr)
	return id, sess, err
}

// ResumeSession resolves a session cookie. Sessions idle longer than idle
// or past their absolute expiry are deleted and refused.
func (s *Store) ResumeSession(ctx context.Context, cookie string, idle time.Duration) (User, Session, error) {
	h := sha256.Sum256([]byte(cookie))
	var sess Session
	var lastSeen time.Time
	err := s.db.QueryRow(ctx, `SELECT user_id, csrf_token, mfa_passed, created_at, expires_at, last_seen_at FROM web_sessions WHERE id_hash = $1`, h[:]).
		Scan(&sess.UserID, &sess.CSRFToken, &sess.MFAPassed, &sess.CreatedAt, &sess.ExpiresAt, &lastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, sess, ErrSessionExpired
	}
	if err != nil {
		return User{}, sess, err
	}
	now := s.now()
	if now.After(sess.ExpiresAt) || now.Sub(lastSeen) > idle {
		s.db.Exec(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, h[:])
		return User{}, sess, ErrSessionExpired
	}
	u, err := s.UserByID(ctx, sess.UserID)
	if err != nil {
		return User{}, sess, err
	}
	if u.DisabledAt != nil {
		return User{}, sess, ErrDisabled
	}
	if now.Sub(lastSeen) > time.Minute {
		s.db.Exec(ctx, `UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1`, h[:], now)
	}
	return u, sess, nil
}

// EndSession deletes a session (logout).
func (s *Store) EndSession(ctx context.Context, cookie string) error {
	h := sha256.Sum256([]byte(cookie))
	_, err := s.db.Exec(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, h[:])
	return err
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
