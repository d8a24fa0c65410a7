package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRun_Watch edits the notebook twice, the first save broken: the run
// shows the error and waits, the second save reruns only the edited cell
// and its downstream.
func TestRun_Watch(t *testing.T) {
	nb := func(sql string) string {
		return `{"data": {
		"a": {"id": "a", "type": "sql", "data": {"title": "A", "sql": "SELECT 1 AS x"}},
		"b": {"id": "b", "type": "sql", "data": {"title": "B", "sql": "` + sql + `"}},
		"c": {"id": "c", "type": "sql", "data": {"title": "C", "sql": "SELECT * FROM b"}},
		"d": {"id": "d", "type": "sql", "data": {"title": "D", "sql": "SELECT 2 AS y"}}},
	  "artifacts": {"nb": {"id": "nb", "cellIds": ["a", "b", "c", "d"]}}}`
	}
	path := filepath.Join(t.TempDir(), "notebook.json")
	if err := os.WriteFile(path, []byte(nb("SELECT x FROM a")), 0o644); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, "run", path, "--watch")
	w.waitFor("watching ", 1)
	if err := os.WriteFile(path, []byte(`{"data": {`), 0o644); err != nil {
		t.Fatal(err)
	}
	w.waitFor("waiting for the next save", 1)
	if err := os.WriteFile(path, []byte(nb("SELECT x + 1 AS x FROM a")), 0o644); err != nil {
		t.Fatal(err)
	}
	w.waitFor("watching ", 2)
	got := w.stop()
	_, rerun, _ := strings.Cut(got, "waiting for the next save")
	if strings.Count(got, "invalid JSON") != 1 || strings.Count(got, "watching ") != 2 {
		t.Errorf("want one run, one broken save, one rerun:\n%s", got)
	}
	for _, s := range []string{"success  nb/B (b)", "success  nb/C (c)", "2 success, 0 error, 0 blocked in "} {
		if !strings.Contains(rerun, s) {
			t.Errorf("rerun lacks %q:\n%s", s, rerun)
		}
	}
	for _, s := range []string{"nb/A (a)", "nb/D (d)"} {
		if strings.Contains(rerun, s) {
			t.Errorf("rerun ran %s, which did not change:\n%s", s, rerun)
		}
	}
}

// TestRun_WatchConnections saves the connections file twice, the first
// save broken: the run shows its error and waits, the second reruns the
// notebook's Postgres cell with the connections as saved.
func TestRun_WatchConnections(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notebook.json")
	nb := `{"data": {
		"p": {"id": "p", "type": "sql", "data": {"title": "P", "connectorId": "pg", "sql": "SELECT 1 AS x"}}},
	  "artifacts": {"nb": {"id": "nb", "cellIds": ["p"]}}}`
	if err := os.WriteFile(path, []byte(nb), 0o644); err != nil {
		t.Fatal(err)
	}
	conns := pgConnections(t)
	good, err := os.ReadFile(conns)
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, "run", path, "--connections", conns, "--watch")
	w.waitFor("watching ", 1)
	if err := os.WriteFile(conns, []byte("[[db.connectors]]\nid = \"pg\"\nengin = \"postgres\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.waitFor("waiting for the next save of "+conns, 1)
	if err := os.WriteFile(conns, good, 0o600); err != nil {
		t.Fatal(err)
	}
	w.waitFor("watching ", 2)
	got := w.stop()
	if n := strings.Count(got, "success  nb/P (p)"); n != 2 {
		t.Errorf("cell p succeeded %d times, want 2 (a run and a rerun on the connections' save):\n%s", n, got)
	}
	if !strings.Contains(got, conns+" changed: rerunning the notebook") {
		t.Errorf("no rerun on the connections' save:\n%s", got)
	}
}

// watch is a `cellsd run --watch` running in the test's process.
type watch struct {
	t      *testing.T
	errOut *syncBuffer
	done   chan int
}

func startWatch(t *testing.T, args ...string) *watch {
	w := &watch{t: t, errOut: new(syncBuffer), done: make(chan int, 1)}
	go func() { w.done <- run(args, new(syncBuffer), w.errOut) }()
	return w
}

// waitFor waits until stderr holds what n times.
func (w *watch) waitFor(what string, n int) {
	w.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); strings.Count(w.errOut.String(), what) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			w.t.Fatalf("no %d× %q in:\n%s", n, what, w.errOut.String())
		}
	}
}

// stop sends the process Ctrl-C, checks that the watch exits 130, and
// returns its stderr.
func (w *watch) stop() string {
	w.t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		w.t.Fatal(err)
	}
	select {
	case code := <-w.done:
		if code != exitInterrupted {
			w.t.Errorf("exit %d, want 130", code)
		}
	case <-time.After(10 * time.Second):
		w.t.Fatal("--watch did not stop on Ctrl-C")
	}
	return w.errOut.String()
}
