//go:build unix

package chain

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used (user + system). The
// benchmarks report rates per CPU-second besides wall-clock rates because
// the shared build machine is often oversubscribed.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
