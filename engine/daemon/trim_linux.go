//go:build linux && cgo

package daemon

/*
#include <malloc.h>
*/
import "C"

// releaseFreed hands the free pages of the C heap back to the system
// (glibc's malloc_trim). A closed session's DuckDB frees its memory to
// malloc, whose arenas would otherwise keep most of it resident.
func releaseFreed() { C.malloc_trim(0) }
