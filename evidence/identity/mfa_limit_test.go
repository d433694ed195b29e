package identity_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/opendems/opendems/evidence/identity"
)

// enrolled returns a store with a user who has a confirmed TOTP factor,
// and a function giving the code valid now.
func enrolled(t *testing.T, limit identity.MFALimit) (*identity.Store, identity.User, func() string) {
	t.Helper()
	ctx := context.Background()
	s := newStore(t)
	s.MFALimit = limit
	s.CreateUnit(ctx, "hq", "HQ", "")
	u, err := s.CreateUser(ctx, identity.NewUser{Username: "ada", Password: "a long enough password", Role: "admin", Unit: "hq"})
	if err != nil {
		t.Fatal(err)
	}
	enr, err := s.BeginTOTP(ctx, u.ID, "OpenDEMS")
	if err != nil {
		t.Fatal(err)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(enr.Secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := s.ConfirmTOTP(ctx, u.ID, code(time.Now().Add(-30*time.Second))); err != nil {
		t.Fatal(err)
	}
	return s, u, func() string { return code(time.Now()) }
}

// wrong returns a 6-digit code that is not valid now or in the
// neighbouring steps.
func wrong(valid string) string {
	b := []byte(valid)
	b[0] = '0' + (b[0]-'0'+5)%10
	return string(b)
}

// The attack that was reproduced: many wrong codes, then the right one.
// After the limit the right code is refused too, the lock is reported to
// the audit hook, and each further lock lasts twice as long.
func TestMFAAttemptsLockWithBackoff(t *testing.T) {
	ctx := context.Background()
	s, u, now := enrolled(t, identity.MFALimit{Attempts: 5, Lockout: 400 * time.Millisecond, MaxLockout: time.Hour})
	// The store's clock, not the wall clock, decides when a lock ends, so a
	// slow machine cannot outlast the lock while the 300 guesses run.
	var mu sync.Mutex
	clock := time.Now()
	identity.SetClock(s, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	var locks []identity.MFALockEvent
	s.OnMFALock = func(_ context.Context, e identity.MFALockEvent) { locks = append(locks, e) }
	for i := 1; i <= 300; i++ {
		err := s.VerifySecondFactor(ctx, u.ID, wrong(now()))
		if !errors.Is(err, identity.ErrMFACode) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if i < 5 && errors.Is(err, identity.ErrMFALocked) || i >= 5 && !errors.Is(err, identity.ErrMFALocked) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if err := s.VerifySecondFactor(ctx, u.ID, now()); !errors.Is(err, identity.ErrMFALocked) {
		t.Fatalf("right code during the lock: %v", err)
	}
	if len(locks) != 1 || locks[0].Username != "ada" || locks[0].Lockouts != 1 {
		t.Fatalf("lock events %+v", locks)
	}
	first := locks[0].Until
	if d := first.Sub(clock); d < 300*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("first lock lasts %s, want 400ms", d)
	}
	advance(first.Sub(clock) + 50*time.Millisecond)
	var le *identity.MFALockedError
	for i := 0; i < 5; i++ {
		err := s.VerifySecondFactor(ctx, u.ID, wrong(now()))
		if i == 4 && (!errors.As(err, &le) || !le.New) {
			t.Fatalf("second lock: %v", err)
		}
	}
	if d := le.Until.Sub(clock); d < 700*time.Millisecond || d > 900*time.Millisecond {
		t.Fatalf("second lock lasts %s, want 800ms (doubled)", d)
	}
	advance(le.Until.Sub(clock) + 50*time.Millisecond)
	if err := s.VerifySecondFactor(ctx, u.ID, now()); err != nil {
		t.Fatalf("right code after the lock: %v", err)
	}
	if len(locks) != 2 || locks[1].Lockouts != 2 {
		t.Fatalf("lock events %+v", locks)
	}
}

// Parallel guessing gains nothing: attempts are counted under a row lock.
func TestMFAParallelGuessesCounted(t *testing.T) {
	ctx := context.Background()
	s, u, now := enrolled(t, identity.MFALimit{Attempts: 5, Lockout: time.Hour})
	bad := wrong(now())
	var mu sync.Mutex
	plain := 0
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.VerifySecondFactor(ctx, u.ID, bad)
			mu.Lock()
			defer mu.Unlock()
			if !errors.Is(err, identity.ErrMFACode) {
				t.Error(err)
			}
			if !errors.Is(err, identity.ErrMFALocked) {
				plain++
			}
		}()
	}
	wg.Wait()
	if plain != 4 {
		t.Fatalf("%d codes were checked before the lock, want 4", plain)
	}
}

// A web session that gives too many wrong codes is ended.
func TestMFAWrongCodesEndSession(t *testing.T) {
	ctx := context.Background()
	s, u, now := enrolled(t, identity.MFALimit{Attempts: 3, Lockout: time.Millisecond})
	cookie, _, err := s.CreateSession(ctx, u.ID, false, time.Hour, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		time.Sleep(5 * time.Millisecond) // let the account lock (1ms) pass: only the session counts here
		err := s.VerifySessionSecondFactor(ctx, cookie, u.ID, wrong(now()))
		if i < 3 && errors.Is(err, identity.ErrSessionEnded) || i == 3 && !errors.Is(err, identity.ErrSessionEnded) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, _, err := s.ResumeSession(ctx, cookie, time.Hour); err == nil {
		t.Fatal("session survived too many wrong codes")
	}
}
