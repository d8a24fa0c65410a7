package daemon_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/internal/natstest"
	"github.com/cellsd/cellsd/internal/poll"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestDaemon_HTTP checks health, readiness, the token and that metrics
// count a run.
func TestDaemon_HTTP(t *testing.T) {
	const token = "t0ken"
	port, dir := natstest.FreePort(t), t.TempDir()
	srv := natstest.RunServer(t, port, dir)
	t.Cleanup(func() { srv.Shutdown() }) // after the daemon's Close
	d := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL(), AuthToken: token})
	base := "http://" + d.HTTPAddr()

	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/db/list-connections"} {
		if code, _ := get(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, code)
		}
		if code, _ := get(t, base+path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, code)
		}
	}
	if code, body := get(t, base+"/healthz", token); code != http.StatusOK {
		t.Errorf("healthz: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz", token); code != http.StatusOK {
		t.Errorf("readyz: %d %s", code, body)
	}
	if code, body := get(t, base+"/api/db/list-connections", token); code != http.StatusOK || !strings.Contains(body, `"duckdb-core"`) {
		t.Errorf("list-connections: %d %s", code, body)
	}

	nc := connect(t, d.NATSURL())
	id := open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart)})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), nil, &r)
	evs.waitRun(t, r.Run)
	poll.Until(t, 10e9, 10e6, func() error {
		_, body := get(t, base+"/metrics", token)
		for _, want := range []string{
			"cellsd_runs_total 1",
			`cellsd_cells_total{status="success"} 7`,
			"cellsd_cell_duration_seconds_count 7",
			"cellsd_rows_materialized_total 11715",
			"cellsd_sessions_open 1",
			"cellsd_events_buffered 0",
			"cellsd_events_published_total 23",
		} {
			if !strings.Contains(body, want+"\n") {
				return &missing{want, body}
			}
		}
		return nil
	})

	// Without NATS the daemon is neither healthy nor ready (it answers
	// nothing of the job API), and its connection keeps trying.
	srv.Shutdown()
	poll.Until(t, 10e9, 10e6, func() error {
		if code, body := get(t, base+"/readyz", token); code != http.StatusServiceUnavailable {
			return &missing{"readyz 503", body}
		}
		if code, body := get(t, base+"/healthz", token); code != http.StatusServiceUnavailable {
			return &missing{"healthz 503", body}
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond) // several reconnect attempts fail meanwhile
	srv = natstest.RunServer(t, port, dir)
	poll.Until(t, 10e9, 10e6, func() error {
		if code, body := get(t, base+"/readyz", token); code != http.StatusOK {
			return &missing{"readyz 200 again", body}
		}
		if code, body := get(t, base+"/healthz", token); code != http.StatusOK {
			return &missing{"healthz 200 again", body}
		}
		return nil
	})
}

type missing struct{ want, got string }

func (m *missing) Error() string { return "want " + m.want + " in:\n" + m.got }

// TestDaemon_AllowOrigin checks that pages of an allowed origin can call
// the HTTP API with the token (a preflight first, as a browser does) and
// open the WebSocket, and that other origins get neither.
func TestDaemon_AllowOrigin(t *testing.T) {
	const token, app, other = "t0ken", "http://localhost:5173", "http://evil.example"
	d := startDaemon(t, daemon.Config{AuthToken: token, AllowOrigins: []string{app}, NATSWebsocket: "127.0.0.1:0"})
	url := "http://" + d.HTTPAddr() + "/api/db/list-connections"

	do := func(method, origin string, header http.Header) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header.Clone()
		req.Header.Set("Origin", origin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	preflight := http.Header{"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization,content-type"}}
	res := do(http.MethodOptions, app, preflight)
	if res.StatusCode/100 != 2 || res.Header.Get("Access-Control-Allow-Origin") != app ||
		!strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("preflight from %s: %d %v", app, res.StatusCode, res.Header)
	}
	call := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	if res := do(http.MethodPost, app, call); res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("POST from %s: %d %v", app, res.StatusCode, res.Header)
	}
	if res := do(http.MethodPost, app, http.Header{}); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST from %s without the token: %d, want 401", app, res.StatusCode)
	}
	for _, method := range []string{http.MethodOptions, http.MethodPost} {
		h := call
		if method == http.MethodOptions {
			h = preflight
		}
		if res := do(method, other, h); res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s from %s allowed: %v", method, other, res.Header)
		}
	}

	if code := wsHandshake(t, d.WebsocketURL(), app); code != http.StatusSwitchingProtocols {
		t.Errorf("WebSocket from %s: %d, want 101", app, code)
	}
	if code := wsHandshake(t, d.WebsocketURL(), other); code != http.StatusForbidden {
		t.Errorf("WebSocket from %s: %d, want 403", other, code)
	}
}

// TestDaemon_CrossSiteRefused: with no token (the default), a page of
// another site cannot make the daemon run SQL, neither by a plain form-like
// POST, which a browser sends without asking, nor through a name of its
// own resolving to 127.0.0.1. Programs that send no Origin are served.
func TestDaemon_CrossSiteRefused(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	addr := d.HTTPAddr()
	post := func(host string, header http.Header, sql string) (int, string) {
		t.Helper()
		body := `{"connectionId":"duckdb-core","queryType":"json","sql":` + strconv.Quote(sql) + `}`
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/db/execute-query", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		if host != "" {
			req.Host = host
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	const create = "CREATE TABLE pwned AS SELECT 1 AS x"
	attacks := []struct {
		name, host string
		header     http.Header
	}{
		{"CrossSiteFetch", "", http.Header{"Content-Type": {"text/plain"}, "Origin": {"http://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}},
		{"CrossSiteOldBrowser", "", http.Header{"Content-Type": {"text/plain"}, "Origin": {"http://evil.example"}}},
		{"DNSRebinding", "evil.example:" + strings.Split(addr, ":")[1], http.Header{"Content-Type": {"application/json"}, "Origin": {"http://evil.example:" + strings.Split(addr, ":")[1]}, "Sec-Fetch-Site": {"same-origin"}}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			if code, body := post(a.host, a.header, create); code != http.StatusForbidden || !strings.Contains(body, `"error"`) {
				t.Errorf("got %d %s, want 403 with an error", code, body)
			}
		})
	}
	const count = "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'pwned'"
	if code, body := post("", http.Header{"Content-Type": {"application/json"}}, count); code != http.StatusOK || !strings.Contains(body, `"n":0`) {
		t.Errorf("a program's request: %d %s, want 200 and no table pwned", code, body)
	}
	localhost := "localhost:" + strings.Split(addr, ":")[1]
	same := http.Header{"Content-Type": {"application/json"}, "Origin": {"http://" + localhost}, "Sec-Fetch-Site": {"same-origin"}}
	if code, body := post(localhost, same, count); code != http.StatusOK {
		t.Errorf("a page of the daemon's own origin: %d %s, want 200", code, body)
	}
}

// wsHandshake opens a WebSocket on url as a page of origin would, and
// returns the status of the answer: 101 when let in.
func wsHandshake(t *testing.T, url, origin string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, strings.Replace(url, "ws://", "http://", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {origin}}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
