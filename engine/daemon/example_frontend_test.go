package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/internal/sqlroomstest"
)

// exampleDir is the Node frontend of the README's "Build a frontend".
const exampleDir = "../../examples/frontend"

// TestExample_Frontend runs examples/frontend against a daemon: it opens
// a session, joins its run late, renders every status and prints a cell's
// first rows through the bridge. It needs node and npm: without them it
// skips, except with CI set, where it fails.
func TestExample_Frontend(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: the frontend example runs node")
	}
	node, npm := sqlroomstest.NeedTool(t, "node"), sqlroomstest.NeedTool(t, "npm")
	dir := installExample(t, npm)
	d := startDaemon(t, daemon.Config{})
	report := filepath.Join(t.TempDir(), "report.json")
	notebook, err := filepath.Abs(filepath.Join(fixtureNotebooks, quickstart))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// As package.json's start script runs it.
	cmd := exec.CommandContext(ctx, node, "--import", "./extensionless.mjs", "frontend.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NATS_URL="+d.NATSURL(), "BRIDGE_URL=http://"+d.HTTPAddr(),
		"NOTEBOOK="+notebook, "SESSION_ID=example", "CELL=daily", "ROWS=3", "REPORT="+report)
	out, err := cmd.CombinedOutput()
	t.Logf("node frontend.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node frontend.mjs: %v", err)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		SessionID, Run, End, Relation string
		Lines                         []string
		Statuses                      map[string]struct {
			Status string
			Rows   *int64
			Seq    int64
		}
		Fields      []string
		First       []map[string]any
		BridgeCount int64
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.SessionID != "example" || r.End != "success" || len(r.Statuses) != 7 {
		t.Errorf("session %q ended %q with %d cells", r.SessionID, r.End, len(r.Statuses))
	}
	for cell, st := range r.Statuses {
		if st.Status != "success" || st.Rows == nil {
			t.Errorf("cell %s: %+v", cell, st)
		}
	}
	daily := r.Statuses["daily"]
	if r.Relation != "__sqlrooms_ephemeral.artifact_quickstart.daily_orders" || len(r.First) != 3 ||
		daily.Rows == nil || r.BridgeCount != *daily.Rows ||
		strings.Join(r.Fields, ",") != "order_date,orders,revenue,revenue_7d" {
		t.Errorf("first rows of daily: %s", data)
	}
	// Every status the frontend rendered came in seq order per cell.
	seen := map[string]int64{}
	for _, l := range r.Lines {
		var seq int64
		var status, where string
		fmt.Sscanf(l, "seq %d %s %s", &seq, &status, &where)
		if seq <= seen[where] {
			t.Errorf("%s: seq %d after %d", where, seq, seen[where])
		}
		seen[where] = seq
	}
}

// installExample copies the example's package files into the user cache
// directory (under a name that changes with them) and runs npm ci there
// once; the scripts are copied in on every run.
func installExample(t *testing.T, npm string) string {
	t.Helper()
	h := sha256.New()
	files := map[string][]byte{}
	for _, name := range []string{"package.json", "package-lock.json", ".npmrc"} {
		b, err := os.ReadFile(filepath.Join(exampleDir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(cache, "cellsd-frontend-example")
	dir := filepath.Join(root, hex.EncodeToString(h.Sum(nil)[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(root, "build-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("npm ci for the frontend example into %s (first run only)", dir)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if _, serr := os.Stat(filepath.Join(dir, "node_modules")); serr != nil {
				t.Fatalf("install the example: %v", err)
			}
		}
	}
	for _, name := range []string{"frontend.mjs", "extensionless.mjs"} {
		b, err := os.ReadFile(filepath.Join(exampleDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
