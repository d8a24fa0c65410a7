package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/hinshun/vt10x"
)

// The pseudo-terminal's size: wide enough that no line of the goldens
// wraps, tall enough that nothing scrolls off the screen.
const ttyCols, ttyRows = 200, 60

// TestMessages_TTYGolden runs messageCases and a Ctrl-C mid-run with stderr
// on a pseudo-terminal, and compares the text a person finally sees there
// (finalScreen) with testdata/diag/<case>.tty.golden, exactly, but for
// durations (normalizeTTY). Where cells run, the live area must have been
// drawn and erased. Rewrite the goldens with -update and review them.
func TestMessages_TTYGolden(t *testing.T) {
	for _, tt := range messageCases {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args(t), "--concurrency", "1")
			code, raw := runOnTTY(t, args, nil)
			checkTTYGolden(t, tt.name, code, raw, tt.live)
		})
	}
	t.Run("ctrl-c", func(t *testing.T) {
		args, remote := ctrlCRun(t, "cellsd_ctrl_c_tty_test")
		code, raw := runOnTTY(t, append(args, "--concurrency", "1"), func() { interruptWhenRemote(t, remote) })
		if code != exitInterrupted {
			t.Errorf("exit %d, want 130", code)
		}
		checkTTYGolden(t, "ctrl-c", code, raw, true)
		waitRemoteGone(t, remote)
	})
}

// checkTTYGolden compares the exit code and final screen of a run on the
// pseudo-terminal with testdata/diag/<name>.tty.golden; live says the
// live area must have been erased ("\x1b[J").
func checkTTYGolden(t *testing.T, name string, code int, raw []byte, live bool) {
	t.Helper()
	if live && !bytes.Contains(raw, []byte("\x1b[J")) {
		t.Errorf("the live area was never erased:\n%q", raw)
	}
	// The paths cellsd prints are absolute: cut the working directory from
	// the bytes before the emulator lays them out, as if the run had been
	// started here with relative paths, so that lines wrap the same on
	// every machine.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte(wd+"/"), nil)
	got := "exit " + strconv.Itoa(code) + "\n" + normalizeTTY(finalScreen(t, raw))
	checkTextGolden(t, diagDir+name+".tty.golden", got)
}

// runOnTTY runs cellsd with stderr on a pseudo-terminal of ttyCols ×
// ttyRows and returns its exit code and every byte it wrote there. during,
// if not nil, is called while the run goes on.
func runOnTTY(t *testing.T, args []string, during func()) (int, []byte) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no pseudo-terminal in CI: %v", err)
		}
		t.Skipf("SKIP: no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: ttyCols, Rows: ttyRows}); err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(read) }()
	done := make(chan int, 1)
	go func() {
		var out bytes.Buffer
		done <- run(args, &out, tty)
	}()
	if during != nil {
		during()
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not end within 60 s")
	}
	tty.Close() // the reader sees EIO once the output is read
	<-read
	return code, screen.Bytes()
}

// finalScreen is what a person finally sees once raw was written to a
// terminal: raw fed through a VT100 emulator (vt10x) of the
// pseudo-terminal's size, each screen line without its trailing blanks,
// and no blank lines after the last text. The cursor must end above the
// bottom line, else lines may have scrolled off.
func finalScreen(t *testing.T, raw []byte) string {
	t.Helper()
	term := vt10x.New(vt10x.WithSize(ttyCols, ttyRows))
	if _, err := term.Write(raw); err != nil {
		t.Fatal(err)
	}
	if y := term.Cursor().Y; y >= ttyRows-1 {
		t.Fatalf("the output reached the bottom of the %d-line screen: lines may have scrolled off", ttyRows)
	}
	lines := strings.Split(term.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimLeft(strings.TrimRight(strings.Join(lines, "\n"), "\n")+"\n", "\n")
}

var (
	ttyDuration = regexp.MustCompile(`\b\d+\.\d ?m?s\b`)
	ttyTimePad  = regexp.MustCompile(`(<dur>|TIME) {2,}(\S)`)
)

// normalizeTTY replaces the durations on a screen ("12.3 ms", "1.4s") with
// <dur>. The table's TIME column is as wide as its widest duration, so the
// blanks after a duration or the TIME heading, up to the next column,
// become two (the table's padding): the other columns keep their exact
// alignment.
func normalizeTTY(s string) string {
	s = ttyDuration.ReplaceAllString(s, "<dur>")
	return ttyTimePad.ReplaceAllString(s, "$1  $2")
}
