package daemon_test

// The live page in a real browser: Debian's Chromium driven by chromedp,
// against a daemon on free ports with a real embedded NATS. The page is
// found only through the contract's attributes (data-cell, data-artifact,
// data-status) and the test ids of its controls.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/internal/natstest"
)

// chromiumPath finds Debian's Chromium (CELLSD_CHROMIUM overrides). Without
// it the browser tests skip loudly, except under CI, where they fail.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CELLSD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("no Chromium: install it (apt-get install -y chromium) or set CELLSD_CHROMIUM; under CI the browser tests do not skip")
	}
	tb.Skip("SKIP: no Chromium (apt-get install -y chromium, or set CELLSD_CHROMIUM): the live page's browser tests did not run")
	return ""
}

// browser starts a headless Chromium with a new profile and returns a tab.
func browser(tb testing.TB) context.Context {
	tb.Helper()
	path := chromiumPath(tb)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancel()
		cancelA()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser
		tb.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// page drives one tab of the live page.
type page struct {
	tb  testing.TB
	ctx context.Context
	dir string // screenshots
}

func openPage(tb testing.TB, d *daemon.Daemon, path string) *page {
	tb.Helper()
	p := &page{tb: tb, ctx: browser(tb)}
	if t, ok := tb.(interface{ ArtifactDir() string }); ok {
		p.dir = t.ArtifactDir()
	}
	p.run(chromedp.Navigate("http://" + d.HTTPAddr() + path))
	return p
}

func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.tb.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its
// value (as JSON) into out, unless out is nil.
func (p *page) eval(js string, out any) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify(("+js+")) ?? 'null'"))
	if err != nil {
		p.tb.Fatalf("browser: %s: %v", js, err)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(s), out); err != nil {
			p.tb.Fatalf("browser: %s gave %s: %v", js, s, err)
		}
	}
}

// waitFor polls a JavaScript expression until it is true.
func (p *page) waitFor(what, js string, timeout time.Duration) {
	p.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.shot("timeout")
			var state string
			p.eval(`JSON.stringify({error: window.__cellsd && window.__cellsd.error, statuses: (() => { const n = [...document.querySelectorAll(".cell[data-cell]")]; return n.length > 40 ? Object.entries(n.reduce((m, e) => (m[e.dataset.status] = (m[e.dataset.status] || 0) + 1, m), {})).map(([k, v]) => k + ": " + v) : n.map(e => e.dataset.cell + "=" + e.dataset.status); })()})`, &state)
			p.tb.Fatalf("page: waited %v for %s (%s); page: %s", timeout, what, js, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shot saves a screenshot of the page under the test's output dir.
func (p *page) shot(name string) string {
	p.tb.Helper()
	if p.dir == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.tb.Logf("screenshot %s: %v", name, err)
		return ""
	}
	file := filepath.Join(p.dir, name+".png")
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		p.tb.Fatal(err)
	}
	p.tb.Logf("screenshot: %s", file)
	return file
}

// statuses is every DAG node's data-status, by "artifact/cell".
func (p *page) statuses() map[string]string {
	p.tb.Helper()
	var out map[string]string
	p.eval(`Object.fromEntries([...document.querySelectorAll(".cell[data-cell]")].map(e => [e.dataset.artifact + "/" + e.dataset.cell, e.dataset.status]))`, &out)
	return out
}

func (p *page) ready() {
	p.tb.Helper()
	p.waitFor("the DAG", `window.__cellsd && window.__cellsd.ready`, 30*time.Second)
}

// click clicks the node of a cell, which opens its panel.
func (p *page) clickCell(artifact, cell string) {
	p.tb.Helper()
	p.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`.cell[data-artifact=%q][data-cell=%q]`, artifact, cell))))
	p.waitFor("the panel of "+cell, fmt.Sprintf(`document.querySelector('[data-testid=panel][data-cell=%q]')`, cell), 10*time.Second)
}

// recordTransitions notes every change of every node's data-status from
// now on, in window.__transitions["artifact/cell"].
func (p *page) recordTransitions() {
	p.tb.Helper()
	p.eval(`(() => {
		window.__transitions = {};
		const obs = new MutationObserver((ms) => { for (const m of ms) {
			const e = m.target; if (!e.classList || !e.classList.contains("cell")) continue;
			const k = e.dataset.artifact + "/" + e.dataset.cell;
			(window.__transitions[k] = window.__transitions[k] || []).push(e.dataset.status);
		}});
		obs.observe(document.body, {subtree: true, attributes: true, attributeFilter: ["data-status"]});
		return true; })()`, nil)
}

func (p *page) transitions() map[string][]string {
	p.tb.Helper()
	var out map[string][]string
	p.eval(`window.__transitions`, &out)
	return out
}

// graphDoc is the part of the graph op's reply the tests read.
type graphDoc struct {
	Artifacts []struct {
		ID    string `json:"id"`
		Cells []struct {
			ID   string   `json:"id"`
			Type string   `json:"type"`
			Deps []string `json:"deps"`
		} `json:"cells"`
	} `json:"artifacts"`
}

func inlineNotebook(tb testing.TB, name string) json.RawMessage {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureNotebooks, name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// pageSession starts a daemon, opens the notebook (inline, so it needs no
// --notebooks) and returns the daemon, a client and the session id.
func pageSession(tb testing.TB, notebook json.RawMessage) (*daemon.Daemon, *nats.Conn, string) {
	tb.Helper()
	d := startDaemon(tb, daemon.Config{})
	nc := connect(tb, d.NATSURL())
	id := open(tb, nc, jobapi.OpenRequest{Notebook: notebook})
	return d, nc, id
}

func sessionPath(id string) string { return "/s/" + strings.ReplaceAll(id, "/", "%2F") }

// sqlCells is every SQL cell of the graph, as "artifact/cell".
func sqlCells(g graphDoc) []string {
	var out []string
	for _, a := range g.Artifacts {
		for _, c := range a.Cells {
			if c.Type == "sql" {
				out = append(out, a.ID+"/"+c.ID)
			}
		}
	}
	return out
}

func allIn(statuses map[string]string, cells []string, want string) bool {
	for _, c := range cells {
		if statuses[c] != want {
			return false
		}
	}
	return true
}

func (p *page) waitStatuses(what string, cells []string, want string, timeout time.Duration) {
	p.tb.Helper()
	list, _ := json.Marshal(cells)
	p.waitFor(what, fmt.Sprintf(`%s.every(k => { const [a, c] = [k.slice(0, k.indexOf("/")), k.slice(k.indexOf("/") + 1)];
		const e = document.querySelector('.cell[data-artifact="' + a + '"][data-cell="' + c + '"]'); return e && e.dataset.status === %q; })`, list, want), timeout)
}

func TestPage_QuickstartGraph(t *testing.T) {
	browser(t) // skip early without Chromium
	d, nc, id := pageSession(t, inlineNotebook(t, quickstart))
	var g graphDoc
	request(t, nc, jobapi.SessionSubject(id, "graph"), nil, &g)
	p := openPage(t, d, sessionPath(id))
	p.ready()
	p.shot("quickstart-idle")

	var nodes [][2]string
	p.eval(`[...document.querySelectorAll(".cell[data-cell]")].map(e => [e.dataset.artifact, e.dataset.cell])`, &nodes)
	var want [][2]string
	edges := 0
	for _, a := range g.Artifacts {
		for _, c := range a.Cells {
			want = append(want, [2]string{a.ID, c.ID})
			edges += len(c.Deps)
		}
	}
	sortPairs := func(s [][2]string) {
		slices.SortFunc(s, func(a, b [2]string) int { return strings.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) })
	}
	sortPairs(nodes)
	sortPairs(want)
	if !slices.Equal(nodes, want) {
		t.Errorf("nodes in the page %v, want one per cell of the graph %v", nodes, want)
	}
	var shownEdges int
	p.eval(`document.querySelectorAll(".react-flow__edge").length`, &shownEdges)
	if shownEdges != edges {
		t.Errorf("%d edges in the page, want %d (one per deps entry)", shownEdges, edges)
	}
}

// queryRows is the query op's reply.
func queryRows(t *testing.T, nc *nats.Conn, id, cell string) (columns []struct{ Name, Type string }, rows [][]any) {
	t.Helper()
	var r struct {
		Columns []struct{ Name, Type string } `json:"columns"`
		Rows    [][]any                       `json:"rows"`
	}
	err := tryRequest(nc, jobapi.SessionSubject(id, "query"), map[string]any{"cellId": cell, "limit": 100}, &r)
	if err != nil {
		t.Fatalf("query %s: %v", cell, err)
	}
	return r.Columns, r.Rows
}

func TestPage_RunAll(t *testing.T) {
	browser(t)
	d, nc, id := pageSession(t, inlineNotebook(t, quickstart))
	var g graphDoc
	request(t, nc, jobapi.SessionSubject(id, "graph"), nil, &g)
	p := openPage(t, d, sessionPath(id))
	p.ready()
	p.run(chromedp.Click(chromedp.CSS(`[data-testid=run-all]`)))
	p.waitStatuses("every SQL cell success", sqlCells(g), "success", 60*time.Second)
	if shot := p.shot("quickstart-success"); shot != "" && os.Getenv("CELLSD_UPDATE_DOCS") != "" {
		// CELLSD_UPDATE_DOCS=1 go test ./engine/daemon -run TestPage_RunAll
		// rewrites the README's screenshot.
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../../docs/live-page.png", data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.clickCell("quickstart", "regions")
	p.shot("quickstart-success-regions")

	columns, rows := queryRows(t, nc, id, "regions")
	p.waitFor("the rows of regions", `document.querySelector("[data-testid=rows]")`, 15*time.Second)
	var shown struct {
		Columns [][2]string
		Rows    [][]string
	}
	p.eval(`({columns: [...document.querySelectorAll("[data-testid=rows] thead th")].map(th => [th.firstChild.textContent, th.dataset.type]),
		rows: [...document.querySelectorAll("[data-testid=rows] tbody tr")].map(tr => [...tr.children].map(td => td.textContent))})`, &shown)
	if len(shown.Columns) != len(columns) {
		t.Fatalf("page shows columns %v, the query op %v", shown.Columns, columns)
	}
	for i, c := range columns {
		if shown.Columns[i] != [2]string{c.Name, c.Type} {
			t.Errorf("column %d: page %v, query op %s %s", i, shown.Columns[i], c.Name, c.Type)
		}
	}
	if len(shown.Rows) != len(rows) {
		t.Fatalf("page shows %d rows, the query op %d", len(shown.Rows), len(rows))
	}
	for i, r := range rows {
		for j, v := range r {
			want := fmt.Sprint(v)
			if v == nil {
				want = "NULL"
			}
			if f, ok := v.(float64); ok {
				want = strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", f), "0"), ".")
			}
			if shown.Rows[i][j] != want {
				t.Errorf("row %d column %d: page %q, query op %q", i, j, shown.Rows[i][j], want)
			}
		}
	}
}

func TestPage_EditCascade(t *testing.T) {
	browser(t)
	d, nc, id := pageSession(t, inlineNotebook(t, quickstart))
	var g graphDoc
	request(t, nc, jobapi.SessionSubject(id, "graph"), nil, &g)
	p := openPage(t, d, sessionPath(id))
	p.ready()
	p.run(chromedp.Click(chromedp.CSS(`[data-testid=run-all]`)))
	p.waitStatuses("every SQL cell success", sqlCells(g), "success", 60*time.Second)

	// products feeds order_lines and everything below it; sales does not
	// depend on it.
	p.clickCell("quickstart", "products")
	p.recordTransitions()
	sql := "SELECT * FROM (VALUES (1, 'Espresso machine', 'kitchen', 139.00), (2, 'Grinder', 'kitchen', 59.50), " +
		"(3, 'Kettle', 'kitchen', 24.90), (4, 'Desk lamp', 'office', 39.00), (5, 'Monitor arm', 'office', 89.00), " +
		"(6, 'Notebook', 'office', 4.50)) AS p(product_id, product_name, category, unit_price)"
	p.eval(`document.querySelector("[data-testid=panel] details.editor").open = true`, nil)
	setValue(p, `[data-testid=sql-editor]`, sql)
	p.run(chromedp.Click(chromedp.CSS(`[data-testid=apply-sql]`)))

	downstream := []string{"quickstart/order_lines", "quickstart/daily", "quickstart/regions", "quickstart/big", "quickstart/summary"}
	p.waitFor("the cascade to finish", fmt.Sprintf(`(() => { const t = window.__transitions; return %s.every(k => t[k] && t[k][t[k].length - 1] === "success"); })()`, jsLiteral(downstream)), 60*time.Second)
	p.shot("quickstart-after-edit")
	tr := p.transitions()
	for _, c := range downstream {
		if !subsequence(tr[c], []string{"queued", "running", "success"}) {
			t.Errorf("%s went %v in the page, want queued → running → success", c, tr[c])
		}
	}
	if got := tr["quickstart/sales"]; len(got) != 0 {
		t.Errorf("independent cell sales changed in the page: %v", got)
	}
	if got := p.statuses()["quickstart/sales"]; got != "success" {
		t.Errorf("sales is %q, want success", got)
	}
}

// setValue sets a React-controlled field as typing would.
func setValue(p *page, selector, value string) {
	p.tb.Helper()
	p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		const proto = e instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
		Object.getOwnPropertyDescriptor(proto, "value").set.call(e, %s);
		e.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, selector, jsLiteral(value)), nil)
}

func jsLiteral(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// subsequence reports whether want appears in got in order.
func subsequence(got, want []string) bool {
	i := 0
	for _, s := range got {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestPage_SQLError(t *testing.T) {
	browser(t)
	d, nc, id := pageSession(t, inlineNotebook(t, "errors.json"))
	_ = nc
	p := openPage(t, d, sessionPath(id))
	p.ready()
	p.run(chromedp.Click(chromedp.CSS(`[data-testid=run-all]`)))
	// bad: "SELECT *\nFORM fine", a parse error at line 2; down reads it.
	p.waitStatuses("bad in error", []string{"errors/bad"}, "error", 30*time.Second)
	p.waitStatuses("down blocked", []string{"errors/down"}, "blocked", 30*time.Second)
	var pos struct{ Line, Column string }
	p.eval(`(() => { const e = document.querySelector('.cell[data-cell="bad"] .errpos'); return e ? {line: e.dataset.errorLine, column: e.dataset.errorColumn} : {}; })()`, &pos)
	if pos.Line != "2" || pos.Column == "" || pos.Column == "0" {
		t.Errorf("node bad shows error position line %q column %q, want line 2 and a column", pos.Line, pos.Column)
	}
	var others int
	p.eval(`document.querySelectorAll('.cell:not([data-cell="bad"]):not([data-cell="a"]):not([data-cell="b"]):not([data-cell="after"]):not([data-cell="self"]) .errpos').length`, &others)
	if others != 0 {
		t.Errorf("%d other nodes show an error position", others)
	}
	p.clickCell("errors", "bad")
	var msg struct{ Line, Column, Text string }
	p.eval(`(() => { const e = document.querySelector("[data-testid=error-message]"); return {line: e.dataset.errorLine, column: e.dataset.errorColumn, text: e.textContent}; })()`, &msg)
	if msg.Line != "2" || !strings.Contains(msg.Text, "line 2") {
		t.Errorf("panel error %+v, want line 2", msg)
	}
	var caret bool
	p.eval(`(() => { const l = document.querySelector('[data-testid=sql] .err-line'); return !!l && l.dataset.line === "2"; })()`, &caret)
	var hasSQL bool
	p.eval(`!!document.querySelector('[data-testid=sql]')`, &hasSQL)
	if hasSQL && !caret {
		t.Errorf("the SQL shown does not mark line 2")
	}
	p.shot("errors")
}

func TestPage_LateJoiner(t *testing.T) {
	browser(t)
	d, nc, id := pageSession(t, inlineNotebook(t, quickstart))
	ev := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), map[string]any{}, &r)
	ev.waitRun(t, r.Run)
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject(id, "status"), nil, &st)

	p := openPage(t, d, sessionPath(id))
	p.ready()
	want := map[string]string{}
	for _, c := range st.Cells {
		want[*c.Artifact+"/"+c.Cell] = c.Status
	}
	cells := make([]string, 0, len(want))
	for k := range want {
		cells = append(cells, k)
	}
	p.waitStatuses("the final state", cells, "success", 15*time.Second)
	got := p.statuses()
	for k, s := range want {
		if got[k] != s {
			t.Errorf("%s: page %q, status op %q", k, got[k], s)
		}
	}
	var seqs map[string]int64
	p.eval(`Object.fromEntries([...document.querySelectorAll(".cell[data-cell]")].map(e => [e.dataset.artifact + "/" + e.dataset.cell, Number(e.dataset.seq)]))`, &seqs)
	for _, c := range st.Cells {
		if k := *c.Artifact + "/" + c.Cell; seqs[k] != c.Seq {
			t.Errorf("%s: page shows seq %d, status op %d", k, seqs[k], c.Seq)
		}
	}
	p.shot("late-joiner")
}

// slowChain is a notebook of three cells in a chain, each about a second
// of DuckDB work, so that a run outlasts a NATS restart.
var slowChain = json.RawMessage(`{"data":{
 "slow1":{"id":"slow1","type":"sql","data":{"title":"Slow 1","sql":"SELECT count(*) AS n FROM range(150000000) t(i) WHERE i % 7 = 3","resultName":"slow1"}},
 "slow2":{"id":"slow2","type":"sql","data":{"title":"Slow 2","sql":"SELECT (SELECT n FROM slow1) + count(*) AS n FROM range(150000000) t(i) WHERE i % 7 = 4","resultName":"slow2"}},
 "slow3":{"id":"slow3","type":"sql","data":{"title":"Slow 3","sql":"SELECT (SELECT n FROM slow2) + count(*) AS n FROM range(150000000) t(i) WHERE i % 7 = 5","resultName":"slow3"}},
 "side":{"id":"side","type":"sql","data":{"title":"Side","sql":"SELECT 1 AS one","resultName":"side"}}},
 "artifacts":{"chain":{"id":"chain","cellIds":["slow1","slow2","slow3","side"],"edges":[]}}}`)

// TestPage_NATSRestart restarts the NATS server (store kept) under a page
// watching a run: the page shows the banner, and when NATS is back it
// catches up, without a reload, with what happened while it was away.
func TestPage_NATSRestart(t *testing.T) {
	browser(t)
	dir := t.TempDir()
	port, wsPort := natstest.FreePort(t), natstest.FreePort(t)
	start := func() *server.Server {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
			Websocket: server.WebsocketOpts{Host: "127.0.0.1", Port: wsPort, NoTLS: true}})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready in 10 s")
		}
		return srv
	}
	srv := start()
	t.Cleanup(func() { srv.Shutdown() }) // after the daemon's close
	d := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL(), PageWebsocket: fmt.Sprintf("ws://127.0.0.1:%d", wsPort)})
	nc := connect(t, d.NATSURL())
	id := open(t, nc, jobapi.OpenRequest{Notebook: slowChain})
	p := openPage(t, d, sessionPath(id))
	p.ready()

	request(t, nc, jobapi.SessionSubject(id, "run"), map[string]any{}, nil)
	p.waitStatuses("slow1 running", []string{"chain/slow1"}, "running", 30*time.Second)
	srv.Shutdown()
	srv.WaitForShutdown()
	p.waitFor("the banner", `document.querySelector("[data-testid=banner]")`, 10*time.Second)
	p.shot("nats-down")
	time.Sleep(1500 * time.Millisecond) // the run goes on; the page sees nothing
	srv = start()
	p.waitFor("the banner to go", `!document.querySelector("[data-testid=banner]")`, 20*time.Second)
	p.waitStatuses("every cell success", []string{"chain/slow1", "chain/slow2", "chain/slow3", "chain/side"}, "success", 60*time.Second)
	var reads int
	p.eval(`window.__cellsd.live.bucketReads`, &reads)
	if reads < 2 {
		t.Errorf("the page read the bucket %d times, want again after the reconnect", reads)
	}
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject(id, "status"), nil, &st)
	var seqs map[string]int64
	p.waitFor("the page at the daemon's seq", fmt.Sprintf(`Math.max(...[...document.querySelectorAll(".cell[data-cell]")].map(e => Number(e.dataset.seq))) >= %d`, maxCellSeq(st)), 20*time.Second)
	p.eval(`Object.fromEntries([...document.querySelectorAll(".cell[data-cell]")].map(e => [e.dataset.artifact + "/" + e.dataset.cell, Number(e.dataset.seq)]))`, &seqs)
	for _, c := range st.Cells {
		if k := *c.Artifact + "/" + c.Cell; seqs[k] != c.Seq {
			t.Errorf("%s: page shows seq %d, status op %d", k, seqs[k], c.Seq)
		}
	}
	p.shot("nats-back")
}

func maxCellSeq(st jobapi.StatusReply) int64 {
	var m int64
	for _, c := range st.Cells {
		m = max(m, c.Seq)
	}
	return m
}

// TestPage_Served: the page and its config need no flag: the embedded
// server's WebSocket is on a free loopback port, and the page's origin may
// open it.
func TestPage_Served(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	base := "http://" + d.HTTPAddr()
	for _, path := range []string{"/", "/s/s1", "/s/a%2Fb", "/assets/app.js"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	resp, err := http.Get(base + "/api/page-config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cfg struct {
		NATSWebsocket *string `json:"natsWebsocket"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.NATSWebsocket == nil || !strings.HasPrefix(*cfg.NATSWebsocket, "ws://127.0.0.1:") || *cfg.NATSWebsocket != d.WebsocketURL() {
		t.Errorf("page-config natsWebsocket %v, want the embedded server's ws://127.0.0.1:PORT (%s)", cfg.NATSWebsocket, d.WebsocketURL())
	}
}

// TestPage_Sessions: the sessions list shows an open session, and the
// Open button of a notebook under --notebooks opens it.
func TestPage_Sessions(t *testing.T) {
	browser(t)
	d, nc, id := pageSession(t, inlineNotebook(t, quickstart))
	p := openPage(t, d, "/")
	p.waitFor("the session in the list", fmt.Sprintf(`document.querySelector('[data-session=%q] a')`, id), 15*time.Second)
	var href string
	p.eval(fmt.Sprintf(`document.querySelector('[data-session=%q] a').getAttribute("href")`, id), &href)
	if href != sessionPath(id) {
		t.Errorf("link %q, want %q", href, sessionPath(id))
	}
	p.shot("sessions")
	var nbs struct {
		Notebooks []struct{ Path string } `json:"notebooks"`
	}
	if err := tryRequest(nc, "cellsd.v1.api.notebooks", map[string]any{}, &nbs); err != nil || len(nbs.Notebooks) == 0 {
		t.Fatalf("the daemon offers no notebooks under fixtures/notebooks: %v", err)
	}
	path := nbs.Notebooks[0].Path
	p.run(chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-notebook=%q] button`, path))))
	p.waitFor("the opened session's page", `location.pathname.startsWith("/s/") && window.__cellsd && window.__cellsd.ready`, 30*time.Second)
}
