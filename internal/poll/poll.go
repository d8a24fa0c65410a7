// Package poll waits in tests for what happens on other goroutines or in
// other processes.
package poll

import (
	"testing"
	"time"
)

// Until calls f every `every` until it returns nil, and fails tb with f's
// last error once total has passed.
func Until(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %v", total, err)
		}
		time.Sleep(every)
	}
}
