package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/opendems/opendems/evidence"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// MFA errors.
var (
	ErrMFACode        = &evidence.Error{Kind: evidence.ErrUnauthenticated, Code: "mfa_invalid", Msg: "invalid second-factor code"}
	ErrMFANotPending  = &evidence.Error{Kind: evidence.ErrConflict, Code: "mfa_not_pending", Msg: "no second-factor enrolment in progress"}
	ErrMFANotEnrolled = &evidence.Error{Kind: evidence.ErrConflict, Code: "mfa_not_enrolled", Msg: "second factor not enrolled"}
)

// MFARequired says which roles must use a second factor on the web. The
// default follows the issue: administrators and records officers (who can
// change accounts and release footage).
var MFARequiredRoles = map[string]bool{RoleAdmin: true, RoleRecords: true}

// TOTPEnrollment is what a user needs to set up an authenticator app.
type TOTPEnrollment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"` // for a QR code
}

// BeginTOTP creates a pending secret for the user. It replaces nothing
// until ConfirmTOTP proves the user's app produces valid codes.
func (s *Store) BeginTOTP(ctx context.Context, userID uuid.UUID, issuer string) (TOTPEnrollment, error) {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: u.Username, Algorithm: otp.AlgorithmSHA1, Digits: otp.DigitsSix, Period: 30})
	if err != nil {
		return TOTPEnrollment{}, err
	}
	if _, err := s.db.Exec(ctx, `UPDATE users SET totp_pending = $2 WHERE id = $1`, userID, key.Secret()); err != nil {
		return TOTPEnrollment{}, err
	}
	return TOTPEnrollment{Secret: key.Secret(), URL: key.URL()}, nil
}

// ConfirmTOTP activates the pending secret if code is valid for it, and
// returns fresh single-use recovery codes (shown once).
func (s *Store) ConfirmTOTP(ctx context.Context, userID uuid.UUID, code string) ([]string, error) {
	var pending *string
	if err := s.db.QueryRow(ctx, `SELECT totp_pending FROM users WHERE id = $1`, userID).Scan(&pending); err != nil {
		return nil, NotFoundErr(err)
	}
	if pending == nil {
		return nil, ErrMFANotPending
	}
	step, ok := validTOTP(*pending, code, s.now())
	if !ok {
		return nil, ErrMFACode
	}
	codes := make([]string, 10)
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $2, updated_at = now() WHERE id = $1`, userID, step); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for i := range codes {
			c := randomString(10)
			codes[i] = c[:5] + "-" + c[5:10]
			h := sha256.Sum256([]byte(codes[i]))
			if _, err := tx.Exec(ctx, `INSERT INTO mfa_recovery_codes(user_id, code_hash) VALUES ($1, $2)`, userID, h[:]); err != nil {
				return err
			}
		}
		return nil
	})
	return codes, err
}

// MFALimit bounds second-factor guessing. A TOTP code has a million
// values and three are valid at any time, so without a limit an online
// attacker who has the password wins in minutes.
type MFALimit struct {
	// Attempts wrong codes in a row lock the account's second factor (and,
	// counted per web session, end that session).
	Attempts int
	// Lockout is the first lock's length; each further lock without a
	// good code in between doubles it, up to MaxLockout.
	Lockout    time.Duration
	MaxLockout time.Duration
}

// DefaultMFALimit is used when Store.MFALimit is zero.
var DefaultMFALimit = MFALimit{Attempts: 5, Lockout: 5 * time.Minute, MaxLockout: 24 * time.Hour}

// ErrMFALocked: too many wrong codes; no code is checked until the lock
// ends. errors.Is(err, ErrMFACode) holds too, so callers that answer a
// bad code answer this the same way.
var ErrMFALocked = errors.New("second factor locked after too many wrong codes")

// ErrSessionEnded: a web session gave too many wrong codes and was ended.
var ErrSessionEnded = errors.New("session ended after too many wrong second-factor codes")

// MFALockedError carries when the lock ends.
type MFALockedError struct {
	Until time.Time
	// New is true on the attempt that set the lock.
	New bool
}

func (e *MFALockedError) Error() string {
	return fmt.Sprintf("%v until %s", ErrMFALocked, e.Until.UTC().Format(time.RFC3339))
}

// Is makes the error match ErrMFALocked and ErrMFACode.
func (e *MFALockedError) Is(target error) bool { return target == ErrMFALocked || target == ErrMFACode }

// MFALockEvent is passed to Store.OnMFALock when a lock is set, so that
// the server records it in the audit log whatever path the code came by.
type MFALockEvent struct {
	UserID   uuid.UUID
	Username string
	Until    time.Time
	Lockouts int // how many locks in a row, this one included
}

// VerifySecondFactor checks a TOTP code (each time step accepted once, so
// a code seen over a shoulder cannot be replayed) or an unused recovery
// code (then spent). Wrong codes count against the account (MFALimit);
// attempts are serialized per account, so parallel guessing gains nothing.
func (s *Store) VerifySecondFactor(ctx context.Context, userID uuid.UUID, code string) error {
	return s.verifySecondFactor(ctx, userID, "", code)
}

// VerifySessionSecondFactor is VerifySecondFactor for a web session
// (cookie): wrong codes also count against the session, which is ended
// (ErrSessionEnded) after MFALimit.Attempts of them.
func (s *Store) VerifySessionSecondFactor(ctx context.Context, cookie string, userID uuid.UUID, code string) error {
	return s.verifySecondFactor(ctx, userID, cookie, code)
}

func (s *Store) mfaLimit() MFALimit {
	l := s.MFALimit
	if l.Attempts <= 0 {
		l.Attempts = DefaultMFALimit.Attempts
	}
	if l.Lockout <= 0 {
		l.Lockout = DefaultMFALimit.Lockout
	}
	if l.MaxLockout < l.Lockout {
		l.MaxLockout = max(l.Lockout, DefaultMFALimit.MaxLockout)
	}
	return l
}

func (s *Store) verifySecondFactor(ctx context.Context, userID uuid.UUID, cookie, code string) error {
	code = strings.TrimSpace(code)
	limit := s.mfaLimit()
	now := s.now()
	var result error
	var lockEvent *MFALockEvent
	// The transaction always commits (counters must stick); the outcome
	// is in result.
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var secret *string
		var last int64
		var username string
		var failures, lockouts int
		var lockedUntil *time.Time
		if err := tx.QueryRow(ctx, `SELECT username, totp_secret, totp_last_step, mfa_failures, mfa_locked_until, mfa_lockouts
			FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&username, &secret, &last, &failures, &lockedUntil, &lockouts); err != nil {
			return NotFoundErr(err)
		}
		if secret == nil {
			result = ErrMFANotEnrolled
			return nil
		}
		if lockedUntil != nil && now.Before(*lockedUntil) {
			result = &MFALockedError{Until: *lockedUntil}
			return nil
		}
		ok, err := checkCode(ctx, tx, userID, *secret, last, code, now)
		if err != nil {
			return err
		}
		if ok {
			_, err := tx.Exec(ctx, `UPDATE users SET mfa_failures = 0, mfa_lockouts = 0, mfa_locked_until = NULL WHERE id = $1`, userID)
			return err
		}
		result = ErrMFACode
		failures++
		if failures >= limit.Attempts {
			d := limit.Lockout << min(lockouts, 20)
			if d <= 0 || d > limit.MaxLockout {
				d = limit.MaxLockout
			}
			until := now.Add(d)
			lockouts++
			if _, err := tx.Exec(ctx, `UPDATE users SET mfa_failures = 0, mfa_lockouts = $2, mfa_locked_until = $3 WHERE id = $1`,
				userID, lockouts, until); err != nil {
				return err
			}
			result = &MFALockedError{Until: until, New: true}
			lockEvent = &MFALockEvent{UserID: userID, Username: username, Until: until, Lockouts: lockouts}
		} else if _, err := tx.Exec(ctx, `UPDATE users SET mfa_failures = $2 WHERE id = $1`, userID, failures); err != nil {
			return err
		}
		if cookie != "" {
			h := sha256.Sum256([]byte(cookie))
			var n int
			err := tx.QueryRow(ctx, `UPDATE web_sessions SET mfa_failures = mfa_failures + 1 WHERE id_hash = $1 RETURNING mfa_failures`, h[:]).Scan(&n)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if n >= limit.Attempts {
				if _, err := tx.Exec(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, h[:]); err != nil {
					return err
				}
				result = fmt.Errorf("%w: %w", ErrSessionEnded, result)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if lockEvent != nil && s.OnMFALock != nil {
		s.OnMFALock(ctx, *lockEvent)
	}
	return result
}

// checkCode accepts a TOTP code for a step after last (and records the
// step, so the code is used up) or an unused recovery code (spent).
func checkCode(ctx context.Context, tx pgx.Tx, userID uuid.UUID, secret string, last int64, code string, now time.Time) (bool, error) {
	if step, ok := validTOTP(secret, code, now); ok {
		if step <= last {
			return false, nil // already used within its window
		}
		_, err := tx.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1`, userID, step)
		return err == nil, err
	}
	h := sha256.Sum256([]byte(strings.ToLower(code)))
	tag, err := tx.Exec(ctx, `UPDATE mfa_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`, userID, h[:])
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// MarkSessionMFA records that a session passed the second factor.
func (s *Store) MarkSessionMFA(ctx context.Context, cookie string) error {
	h := sha256.Sum256([]byte(cookie))
	_, err := s.db.Exec(ctx, `UPDATE web_sessions SET mfa_passed = true WHERE id_hash = $1`, h[:])
	return err
}

// validTOTP accepts the current 30-second step and one either side (clock
// drift) and returns the matching step.
func validTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	for _, d := range []int64{0, -1, 1} {
		t := now.Add(time.Duration(d) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && want == code {
			return t.Unix() / 30, true
		}
	}
	return 0, false
}

// NotFoundErr translates pgx.ErrNoRows.
func NotFoundErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return evidence.ErrNotFound
	}
	return err
}
