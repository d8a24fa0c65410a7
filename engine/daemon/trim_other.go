//go:build !linux || !cgo

package daemon

// releaseFreed does nothing where malloc_trim is not known to exist.
func releaseFreed() {}
