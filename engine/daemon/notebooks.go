package daemon

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/internal/limits"

	"github.com/cellsd/cellsd/engine/daemon/jobapi"
)

// errNoNotebook is the one answer to a path open cannot read: outside
// --notebooks, missing, a directory, a symlink out of the root, too large,
// or any path at all without --notebooks. It says nothing more, so no
// reply tells whether a path exists.
func errNoNotebook(string) *jobapi.Error {
	return jobapi.Errorf(jobapi.CodeNotFound, "no such notebook under the daemon's notebooks directory")
}

// notebookRoot is --notebooks with its symlinks resolved; "" when unset
// or unusable.
func (d *Daemon) notebookRoot() string {
	if d.cfg.Notebooks == "" {
		return ""
	}
	abs, err := filepath.Abs(d.cfg.Notebooks)
	if err != nil {
		return ""
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return ""
	}
	return root
}

// readNotebook reads the notebook at path, relative to --notebooks (or
// absolute), only if it resolves, symlinks and all, to a regular file
// under --notebooks of at most the size limit.
func (d *Daemon) readNotebook(path string) (*cells.Notebook, error) {
	root := d.notebookRoot()
	if root == "" || path == "" || strings.ContainsRune(path, 0) {
		return nil, errNoNotebook(path)
	}
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(root, full)
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil || !within(root, real) {
		return nil, errNoNotebook(path)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, errNoNotebook(path)
	}
	defer f.Close()
	// The file opened is checked, not the name: a swap after the
	// EvalSymlinks still gives a regular file only.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || limits.Over(fi.Size(), d.cfg.MaxFileSize) {
		return nil, errNoNotebook(path)
	}
	data, err := limits.ReadAll(f, d.cfg.MaxFileSize)
	if err != nil {
		return nil, errNoNotebook(path)
	}
	rel, _ := filepath.Rel(root, real)
	nb, err := cells.Parse(rel, data)
	if err != nil {
		return nil, jobapi.Errorf(jobapi.CodeLoad, "%v", err)
	}
	return nb, nil
}

// within says whether path is root or under it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// handleNotebooks answers cellsd.v1.api.notebooks: the .json files under
// --notebooks that parse as notebooks, by path; an empty list without it.
func (d *Daemon) handleNotebooks(m *nats.Msg) {
	var req struct{}
	if err := jobapi.Decode(m.Data, &req); err != nil {
		d.respond(m, "notebooks", nil, err)
		return
	}
	out := []jobapi.NotebookEntry{}
	if root := d.notebookRoot(); root != "" {
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !e.Type().IsRegular() || !strings.HasSuffix(p, ".json") {
				return nil // symlinks are not followed: they may leave the root
			}
			data, err := limits.ReadFile(p, d.cfg.MaxFileSize)
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if _, err := cells.Parse(rel, data); err != nil {
				return nil
			}
			out = append(out, jobapi.NotebookEntry{Path: filepath.ToSlash(rel), Title: fileTitle(rel)})
			return nil
		})
	}
	slices.SortFunc(out, func(a, b jobapi.NotebookEntry) int { return strings.Compare(a.Path, b.Path) })
	d.respond(m, "notebooks", map[string][]jobapi.NotebookEntry{"notebooks": out}, nil)
}

// fileTitle is a notebook's file name without .json, its first
// letter upper-cased ("quickstart.json": "Quickstart"): a saved cells
// config carries no title of its own.
func fileTitle(rel string) string {
	name := strings.TrimSuffix(filepath.Base(rel), ".json")
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// notebookName is what the log says an open request opened: its path, or
// "inline".
func notebookName(body []byte) string {
	var req struct {
		Notebook json.RawMessage `json:"notebook"`
	}
	var path string
	if json.Unmarshal(body, &req) == nil && json.Unmarshal(req.Notebook, &path) == nil {
		return path
	}
	return "inline"
}
