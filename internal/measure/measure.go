// Package measure holds what cellsd's benchmarks share: medians and the
// Go heap's high-water mark.
package measure

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Median returns the median of ds (the upper one of an even count).
func Median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// HeapPeak records the Go heap's high-water mark, sampled every 20 ms
// between Start and the stop it returns.
type HeapPeak struct{ peak atomic.Uint64 }

// Start collects garbage, then samples until stop is called.
func (h *HeapPeak) Start() (stop func()) {
	runtime.GC()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > h.peak.Load() {
				h.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// MiB is the high-water mark so far, in MiB.
func (h *HeapPeak) MiB() float64 { return float64(h.peak.Load()) / (1 << 20) }
