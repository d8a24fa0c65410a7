package bridge_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/internal/pgtest"
)

// sqlroomsPackage is the published client the end-to-end test drives.
const sqlroomsPackage = "@sqlrooms/db@0.29.0"

// TestSQLRoomsClient drives the bridge with the real SQLRooms client: the
// published @sqlrooms/db package's dist/bridge.js, bundled by esbuild and
// run by node (testdata/sqlrooms/e2e.mjs), calls every method of
// createHttpDbBridge. What the client decoded must equal the rows in
// Postgres; a streamed query must come in several batches; aborting a
// stream must take its query off the Postgres server.
//
// The first run installs the harness (npm pack, npm ci, esbuild) into the
// user cache directory; later runs reuse it. Without node and npm the test
// skips, except in CI, where it fails.
func TestSQLRoomsClient(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: the SQLRooms end-to-end test runs node")
	}
	node, npm := needTool(t, "node"), needTool(t, "npm")
	dir := sqlroomsHarness(t, npm)

	env := startBridge(t)
	env.people(t)
	marker := "e2e_abort_" + env.Schema

	script := filepath.Join(dir, fmt.Sprintf("e2e-%d.mjs", os.Getpid()))
	src, err := os.ReadFile(filepath.Join("testdata", "sqlrooms", "e2e.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(script) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BRIDGE_URL="+env.URL, "BRIDGE_TOKEN="+testToken, "PG_SCHEMA="+env.Schema, "E2E_MARKER="+marker)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if os.Getenv("E2E_DUMP") != "" {
		t.Logf("%s", stdout)
	}
	if err != nil {
		t.Fatalf("node e2e.mjs: %v\n%s", err, stderr.String())
	}
	var got e2eResult
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("decode the client's output: %v\n%s", err, stdout)
	}
	t.Logf("abort: first batch of %d rows; query seen after %d ms; aborted, %d more batches, then %q; query gone %d ms after the abort",
		got.Abort.FirstBatchRows, got.Abort.RunningAfterMs, got.Abort.BatchesAfterAbort, got.Abort.AfterAbort, got.Abort.GoneAfterMs)

	// What Postgres holds, read with pgx.
	type person struct {
		id                   int64
		name, amount, day, u *string
		amountF, ratio       *float64
		at                   *time.Time
		flag                 *bool
	}
	var people []person
	rows, err := env.Pool.Query(context.Background(), fmt.Sprintf(
		`SELECT id, name, amount::text, amount::float8, at, flag, ratio, day::text, u::text FROM %s.people ORDER BY id`, env.Schema))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p person
		if err := rows.Scan(&p.id, &p.name, &p.amount, &p.amountF, &p.at, &p.flag, &p.ratio, &p.day, &p.u); err != nil {
			t.Fatal(err)
		}
		people = append(people, p)
	}
	if err := rows.Err(); err != nil || len(people) != 3 {
		t.Fatalf("read people: %v (%d rows)", err, len(people))
	}
	// The client's representations: Arrow (64-bit integers as text,
	// decimals at their scale, timestamps as JS dates, with ms, UUIDs as
	// 16 bytes) and JSON (numbers, ISO text with µs, UUID text).
	var wantArrow, wantJSON [][]any
	for _, p := range people {
		var at, atJSON, u any
		if p.at != nil {
			at = p.at.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
			atJSON = p.at.UTC().Format(time.RFC3339Nano)
		}
		if p.u != nil {
			u = strings.ReplaceAll(*p.u, "-", "")
		}
		wantArrow = append(wantArrow, []any{fmt.Sprint(p.id), p.name, p.amount, at, p.flag, p.ratio, p.day, u})
		wantJSON = append(wantJSON, []any{p.id, p.name, p.amountF, atJSON, p.flag, p.ratio, p.day, p.u})
	}

	check := func(name string, ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: "+format, append([]any{name}, args...)...)
		}
	}
	tc := got.TestConnection
	check("testConnection", tc.PG && tc.Core, "pg %v, core %v", tc.PG, tc.Core)
	check("testConnection unknown", strings.Contains(tc.Unknown, "(404)") && strings.Contains(tc.Unknown, `unknown connection "nope"`), "%q", tc.Unknown)
	check("testConnection without token", strings.Contains(tc.NoToken, "(401)"), "%q", tc.NoToken)

	check("listCatalog pg", contains(got.ListCatalog.PG.Tables, bridge.CatalogTable{Database: got.ListCatalog.PG.Databases[0].Database,
		Schema: env.Schema, Table: "people_names", IsView: true}), "view people_names missing: %+v", got.ListCatalog.PG.Tables)
	check("listCatalog core", len(got.ListCatalog.Core.Databases) == 1 && got.ListCatalog.Core.Databases[0].Database == "memory", "%+v", got.ListCatalog.Core)

	eq := got.ExecuteQuery
	var gotJSON [][]any
	for _, r := range eq.JSON {
		if at, ok := r["at"].(string); ok {
			if ts, err := time.Parse(time.RFC3339Nano, at); err == nil {
				r["at"] = ts.UTC().Format(time.RFC3339Nano)
			}
		}
		gotJSON = append(gotJSON, []any{r["id"], r["name"], r["amount"], r["at"], r["flag"], r["ratio"], r["day"], r["u"]})
	}
	check("executeQuery json", reflect.DeepEqual(normalize(t, gotJSON), normalize(t, wantJSON)), "got %v\nwant %v", gotJSON, wantJSON)
	check("executeQuery exec core", eq.CoreJSON != nil && len(eq.CoreJSON) == 1 && fmt.Sprint(eq.CoreJSON[0]["answer"]) == "42", "%v", eq.CoreJSON)
	check("executeQuery read-only", strings.Contains(eq.ExecReadOnly, "(422)") && strings.Contains(eq.ExecReadOnly, "read-only transaction"), "%q", eq.ExecReadOnly)
	check("executeQuery SQL error", strings.Contains(eq.SQLError, "(422)") && strings.Contains(eq.SQLError, "nowhere"), "%q", eq.SQLError)

	fa := got.FetchArrow
	check("fetchArrow pg rows", reflect.DeepEqual(normalize(t, fa.PG.Rows), normalize(t, wantArrow)), "got %v\nwant %v", fa.PG.Rows, wantArrow)
	check("fetchArrow core", reflect.DeepEqual(normalize(t, fa.Core.Rows), normalize(t, [][]any{{"1", "x", "2.50", []any{1, 2}}})), "%v (fields %v)", fa.Core.Rows, fa.Core.Fields)
	check("fetchArrow SQL error", strings.Contains(fa.SQLError, "(422)"), "%q", fa.SQLError)

	st := got.FetchArrowStream
	total, next := 0, 1
	for _, b := range st.Batches {
		check("stream batch", b.First == next && b.Last == next+b.Rows-1, "batch %+v after id %d", b, next-1)
		total += b.Rows
		next += b.Rows
	}
	check("stream", len(st.Batches) == 11 && total == 10500, "%d batches, %d rows", len(st.Batches), total)
	check("stream SQL error", strings.Contains(st.SQLError, "nowhere"), "%q", st.SQLError)

	ab := got.Abort
	check("abort first batch", ab.FirstBatchRows == 1000, "%d rows", ab.FirstBatchRows)
	check("abort running", ab.RunningAfterMs >= 0, "the query never showed in pg_stat_activity")
	check("abort rejects", ab.AfterAbort != "", "the stream went on after the abort")
	check("abort cancels the query", ab.GoneAfterMs >= 0, "the query still ran 10 s after the abort")
	check("abort cancel again", !ab.CancelAgain, "cancel-query after the end found the query")
	if n := env.activeQueries(t, marker); n != 0 {
		t.Errorf("%d backends still run the aborted query", n)
	}
	check("cancelQuery unknown", !got.CancelQuery.Unknown, "cancelled an unknown query")

	lc := got.ListConnections
	check("list-connections", lc.Status == 200 && len(lc.Body.Connections) == 3 && lc.Body.Connections[0].IsCore, "%+v", lc)
}

// e2eResult is what e2e.mjs prints.
type e2eResult struct {
	TestConnection struct {
		PG, Core         bool
		Unknown, NoToken string
	}
	ListCatalog struct {
		PG, Core bridge.CatalogResponse
	}
	ExecuteQuery struct {
		JSON         []map[string]any `json:"json"`
		ExecCore     map[string]any
		CoreJSON     []map[string]any `json:"coreJson"`
		ExecReadOnly string
		SQLError     string `json:"sqlError"`
	}
	FetchArrow struct {
		PG, Core struct {
			Fields []struct{ Name, Type string }
			Rows   [][]any
		}
		SQLError string `json:"sqlError"`
	}
	FetchArrowStream struct {
		Batches []struct {
			Rows, First, Last int
		}
		SQLError string `json:"sqlError"`
	}
	Abort struct {
		FirstBatchRows, RunningAfterMs, GoneAfterMs, TookMs, BatchesAfterAbort int
		AfterAbort                                                             string
		CancelAgain                                                            bool
	}
	CancelQuery     struct{ Unknown bool }
	ListConnections struct {
		Status int
		Body   bridge.ListConnectionsResponse
	}
}

// normalize round-trips v through JSON, so values of different Go types
// that print alike compare equal.
func normalize(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// needTool returns the path of a program the test needs: missing, it
// skips (loudly), or fails when CI is set.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found in PATH: the SQLRooms end-to-end test needs node and npm", name)
	if os.Getenv(pgtest.EnvCI) != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping)", msg)
	}
	t.Skipf("SKIP: %s", msg)
	return ""
}

// sqlroomsHarness returns a directory holding node_modules (apache-arrow,
// esbuild) and bridge.bundle.mjs, the SQLRooms client bundled. It lives in
// the user cache directory under a name that changes with the harness's
// package files, and is built once: npm ci, npm pack of the published
// package, esbuild.
func sqlroomsHarness(t *testing.T, npm string) string {
	t.Helper()
	pkg, err := os.ReadFile(filepath.Join("testdata", "sqlrooms", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(filepath.Join("testdata", "sqlrooms", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(append(append(pkg, lock...), sqlroomsPackage...), 0))
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("user cache directory: %v", err)
	}
	root := filepath.Join(cache, "cellsd-sqlrooms-e2e")
	dir := filepath.Join(root, hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "bridge.bundle.mjs")); err == nil {
		return dir
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// Build in a directory of our own and rename it into place, so that
	// concurrent test processes never see half a harness.
	tmp, err := os.MkdirTemp(root, "build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t.Logf("installing the SQLRooms harness into %s (first run only)", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = tmp
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
	}
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(npm, "ci", "--no-audit", "--no-fund")
	run(npm, "pack", sqlroomsPackage, "--pack-destination", tmp)
	tgz, err := filepath.Glob(filepath.Join(tmp, "sqlrooms-db-*.tgz"))
	if err != nil || len(tgz) != 1 {
		t.Fatalf("npm pack left %v", tgz)
	}
	if err := untar(tgz[0], filepath.Join(tmp, "sqlrooms-db")); err != nil {
		t.Fatalf("unpack %s: %v", tgz[0], err)
	}
	// dist/bridge.js imports './arrow-streaming' without an extension,
	// which node's ESM loader refuses and esbuild resolves.
	run(filepath.Join(tmp, "node_modules", ".bin", "esbuild"), filepath.Join("sqlrooms-db", "package", "dist", "bridge.js"),
		"--bundle", "--format=esm", "--platform=node", "--external:apache-arrow", "--outfile=bridge.bundle.mjs", "--log-level=warning")
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "bridge.bundle.mjs")); serr == nil {
			return dir // another process finished first
		}
		t.Fatalf("install the harness: %v", err)
	}
	return dir
}

// untar extracts a gzipped tar of regular files and directories into dir.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("entry %q leaves the directory", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			out, err := os.Create(name)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
