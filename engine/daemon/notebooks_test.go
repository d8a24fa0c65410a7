package daemon_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
)

// TestNotebooks_OpenOutsideRoot opens paths open must not read: each
// gets the same not_found, message and all; a notebook under the root
// opens, by relative and by absolute path.
func TestNotebooks_OpenOutsideRoot(t *testing.T) {
	root := t.TempDir()
	qs, err := os.ReadFile(filepath.Join(fixtureNotebooks, quickstart))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "ok.json"), qs, 0o644))
	must(os.Mkdir(filepath.Join(root, "dir.json"), 0o755))
	outside := filepath.Join(t.TempDir(), "secret.json")
	must(os.WriteFile(outside, qs, 0o644))
	must(os.Symlink(outside, filepath.Join(root, "link.json")))
	must(os.Symlink(filepath.Join(fixtureNotebooks, quickstart), filepath.Join(root, "link2.json")))
	big, err := os.Create(filepath.Join(root, "big.json"))
	must(err)
	must(big.Truncate(200 << 20)) // 200 MB, sparse
	big.Close()

	d := startDaemon(t, daemon.Config{Notebooks: root})
	nc := connect(t, d.NATSURL())
	var want *jobapi.Error
	for _, path := range []string{
		"/etc/passwd", "../../etc/hostname", "../" + filepath.Base(filepath.Dir(outside)) + "/secret.json",
		outside, "nope.json", "dir.json", root, ".", "link.json", "link2.json", "big.json", "/dev/zero", "",
	} {
		start := time.Now()
		err := tryRequest(nc, "cellsd.v1.api.open", map[string]any{"notebook": path}, nil)
		ae, ok := err.(*jobapi.Error)
		if !ok || ae.Code != jobapi.CodeNotFound {
			t.Errorf("open %q: %v, want not_found", path, err)
			continue
		}
		if want == nil {
			want = ae
		} else if *ae != *want {
			t.Errorf("open %q: %v, want the same reply as every other path: %v", path, ae, want)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("open %q took %v", path, el)
		}
	}
	for _, path := range []string{"ok.json", filepath.Join(root, "ok.json")} {
		var r struct{ SessionID, Token string }
		request(t, nc, "cellsd.v1.api.open", jobapi.OpenRequest{Notebook: notebookPath(path)}, &r)
		if r.SessionID == "" || !strings.HasPrefix(r.Token, "cst_") {
			t.Errorf("open %q: %+v, want a session and its token", path, r)
		}
	}
	// Inline notebooks always work, with or without --notebooks.
	bare := startDaemon(t, daemon.Config{Notebooks: t.TempDir()})
	open(t, connect(t, bare.NATSURL()), jobapi.OpenRequest{Notebook: json.RawMessage(qs)})
}

// TestNotebooks_NoRoot refuses every path without --notebooks.
func TestNotebooks_NoRoot(t *testing.T) {
	d := daemon.New(daemon.Config{NATSListen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err := d.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(t.Context()) })
	nc := connect(t, d.NATSURL())
	abs, _ := filepath.Abs(filepath.Join(fixtureNotebooks, quickstart))
	err := tryRequest(nc, "cellsd.v1.api.open", map[string]any{"notebook": abs}, nil)
	if ae, ok := err.(*jobapi.Error); !ok || ae.Code != jobapi.CodeNotFound {
		t.Errorf("open by path without --notebooks: %v, want not_found", err)
	}
	var list struct{ Notebooks []jobapi.NotebookEntry }
	request(t, nc, "cellsd.v1.api.notebooks", map[string]any{}, &list)
	if list.Notebooks == nil || len(list.Notebooks) != 0 {
		t.Errorf("notebooks without --notebooks: %+v, want an empty list", list.Notebooks)
	}
}

// TestNotebooks_List lists the notebooks under --notebooks.
func TestNotebooks_List(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	var list struct{ Notebooks []jobapi.NotebookEntry }
	request(t, nc, "cellsd.v1.api.notebooks", nil, &list)
	var got []string
	for _, n := range list.Notebooks {
		got = append(got, n.Path+"="+n.Title)
	}
	// Every file of fixtures/notebooks is a notebook.
	files, _ := filepath.Glob(filepath.Join(fixtureNotebooks, "*.json"))
	var want []string
	for _, f := range files {
		name := filepath.Base(f)
		want = append(want, name+"="+strings.ToUpper(name[:1])+strings.TrimSuffix(name[1:], ".json"))
	}
	if len(want) < 4 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("notebooks: %s\nwant %s", strings.Join(got, " "), strings.Join(want, " "))
	}
}

// TestNotebooks_DeepNesting refuses a 10,000-deep inline notebook in
// milliseconds, naming the line.
func TestNotebooks_DeepNesting(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	deep := `{"data":{"c":{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}}`
	start := time.Now()
	msg, err := nc.Request("cellsd.v1.api.open", []byte(`{"notebook":`+deep+`}`), 10*time.Second)
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Error *jobapi.Error }
	json.Unmarshal(msg.Data, &r)
	if r.Error == nil || r.Error.Code != jobapi.CodeBadRequest || !strings.Contains(r.Error.Message, "line 1, column 91: nested deeper than 64") {
		t.Errorf("deep notebook: %s, want a bad_request naming line and column", msg.Data)
	}
	if el > 500*time.Millisecond {
		t.Errorf("deep notebook refused in %v", el)
	}
}
