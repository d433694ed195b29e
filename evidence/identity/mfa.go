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

// VerifySecondFactor checks a TOTP code (each time step accepted once, so
// a code seen over a shoulder cannot be replayed) or an unused recovery
// code (then spent).
func (s *Store) VerifySecondFactor(ctx context.Context, userID uuid.UUID, code string) error {
	code = strings.TrimSpace(code)
	var secret *string
	var last int64
	if err := s.db.QueryRow(ctx, `SELECT totp_secret, totp_last_step FROM users WHERE id = $1`, userID).Scan(&secret, &last); err != nil {
		return NotFoundErr(err)
	}
	if secret == nil {
		return ErrMFANotEnrolled
	}
	if step, ok := validTOTP(*secret, code, s.now()); ok {
		tag, err := s.db.Exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, userID, step)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: code already used", ErrMFACode)
		}
		return nil
	}
	h := sha256.Sum256([]byte(strings.ToLower(code)))
	tag, err := s.db.Exec(ctx, `UPDATE mfa_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`, userID, h[:])
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return ErrMFACode
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
