package identity

import "time"

// SetClock replaces the store's clock in tests, so lockouts and expiries
// are decided on a time the test controls rather than the wall clock.
func SetClock(s *Store, now func() time.Time) { s.now = now }
