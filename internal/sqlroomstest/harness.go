package sqlroomstest

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/internal/pgtest"
)

// harnessRel is the harness's source directory, relative to the module
// root: e2e.mjs, package.json and package-lock.json.
const harnessRel = "engine/daemon/bridgeserver/testdata/sqlrooms"

// SourceDir returns the directory holding the harness's source files,
// whichever package's test calls it: next to this file's source if that
// is still where it was compiled (it is, unless built with -trimpath),
// else below the module root found by walking up from the working
// directory to go.mod.
func SourceDir(t testing.TB) string {
	t.Helper()
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "..", filepath.FromSlash(harnessRel))
		if _, err := os.Stat(filepath.Join(dir, "e2e.mjs")); err == nil {
			return dir
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			src := filepath.Join(dir, filepath.FromSlash(harnessRel))
			if _, err := os.Stat(filepath.Join(src, "e2e.mjs")); err != nil {
				t.Fatalf("the SQLRooms harness: %v", err)
			}
			return src
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("the SQLRooms harness: no go.mod above %s", wd)
		}
	}
}

// NeedTool returns the path of a program the end-to-end test needs:
// missing, it skips (loudly, "SKIP: ..."), or fails when CI is set.
func NeedTool(t testing.TB, name string) string {
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

// Harness returns a directory holding node_modules (apache-arrow, esbuild)
// and bridge.bundle.mjs, the SQLRooms client bundled. It lives in the user
// cache directory under a name that changes with the harness's package
// files, and is built once: npm ci, npm pack of the published package,
// esbuild. Concurrent test processes may build it at the same time.
func Harness(t testing.TB, npm string) string {
	t.Helper()
	src := SourceDir(t)
	pkg, err := os.ReadFile(filepath.Join(src, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(append(append(pkg, lock...), Package...), 0))
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
	run(npm, "pack", Package, "--pack-destination", tmp)
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
		if errors.Is(err, io.EOF) {
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
