package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/opendems/opendems/evidence/identity"
)

func TestTOTPEnrolmentAndRecovery(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.CreateUnit(ctx, "hq", "HQ", "")
	u, err := s.CreateUser(ctx, identity.NewUser{Username: "ada", Password: "a long enough password", Role: "admin", Unit: "hq"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifySecondFactor(ctx, u.ID, "123456"); !errors.Is(err, identity.ErrMFANotEnrolled) {
		t.Fatalf("not enrolled: %v", err)
	}
	enr, err := s.BeginTOTP(ctx, u.ID, "OpenDEMS")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmTOTP(ctx, u.ID, "000000"); !errors.Is(err, identity.ErrMFACode) {
		t.Fatalf("wrong confirm code: %v", err)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(enr.Secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	recovery, err := s.ConfirmTOTP(ctx, u.ID, code(time.Now().Add(-30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if len(recovery) != 10 {
		t.Fatalf("recovery codes: %v", recovery)
	}
	now := code(time.Now())
	if err := s.VerifySecondFactor(ctx, u.ID, now); err != nil {
		t.Fatalf("valid code refused: %v", err)
	}
	if err := s.VerifySecondFactor(ctx, u.ID, now); !errors.Is(err, identity.ErrMFACode) {
		t.Fatalf("replayed code accepted: %v", err)
	}
	if err := s.VerifySecondFactor(ctx, u.ID, recovery[3]); err != nil {
		t.Fatalf("recovery code refused: %v", err)
	}
	if err := s.VerifySecondFactor(ctx, u.ID, recovery[3]); !errors.Is(err, identity.ErrMFACode) {
		t.Fatalf("recovery code reused: %v", err)
	}
	got, _ := s.UserByID(ctx, u.ID)
	if !got.MFAEnrolled {
		t.Fatal("user not marked enrolled")
	}
}
