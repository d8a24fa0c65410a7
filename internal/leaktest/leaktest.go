// Package leaktest checks that what a test starts, it stops: no goroutine
// started after Start is still running a few seconds after the test's
// Close calls (go.uber.org/goleak, which names the goroutines it finds).
package leaktest

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// settle is how long goroutines get to finish after the test's Close
// calls: a closed connection's reader notices its EOF, a cancelled query
// returns from DuckDB.
const settle = 5 * time.Second

// Start notes the goroutines running now. The function it returns fails tb,
// with their stacks, if goroutines started since are still running after
// settle.
func Start(tb testing.TB) (verify func()) {
	tb.Helper()
	before := goleak.IgnoreCurrent()
	return func() {
		tb.Helper()
		deadline := time.Now().Add(settle)
		for goleak.Find(before) != nil && time.Now().Before(deadline) { // Find retries for about 0.4 s
		}
		goleak.VerifyNone(tb, before)
	}
}
