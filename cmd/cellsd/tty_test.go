package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestRun_TTY runs with stderr on a pseudo-terminal: the live area is
// drawn and erased, then the final per-cell table, the diagnostic and the
// summary stay on screen.
func TestRun_TTY(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no pseudo-terminal in CI: %v", err)
		}
		t.Skipf("SKIP: no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(read) }()
	var out bytes.Buffer
	code := run([]string{"run", diagDir + "runtime.json", "--concurrency", "1"}, &out, tty)
	tty.Close()
	<-read
	if code != exitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	got := strings.ReplaceAll(screen.String(), "\r\n", "\n")
	for _, s := range []string{
		"\x1b[J", // the live area erased
		"cell labels (\"Labels\"), line 3, column 3:\nConversion Error: Could not convert string '#0' to INT32\n  3 |   CAST('#' || id AS INTEGER) AS label\n    |   ^\n",
		"STATUS   CELL                        ROWS  TIME    CACHED\nsuccess  orders/Order lines (lines)  5     ",
		"error    orders/Labels (labels)",
		"1 success, 1 error, 0 blocked in ",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("screen lacks %q:\n%q", s, got)
		}
	}
}
