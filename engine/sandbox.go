package engine

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Sandbox locks a DuckDB down (DESIGN.md "A daemon that is safe to
// share"): SQL reads and writes no host file but under AllowDirs, attaches
// no database file, installs and loads no extension, reaches no network,
// and can change none of these settings back. DuckDB enforces every one
// of them; cellsd only sets them, after its own ATTACHes.
type Sandbox struct {
	// AllowDirs are directories SQL may read files under (DuckDB
	// allowed_directories, which also lets it write there).
	AllowDirs []string
	// MemoryLimit is DuckDB's memory_limit ("2GB"); empty leaves DuckDB's
	// default (80% of the machine's memory).
	MemoryLimit string
	// Threads is DuckDB's threads; 0 leaves its default (the CPUs).
	Threads int
}

// Apply locks db down. tempDir is where DuckDB spills (temp_directory);
// empty leaves DuckDB's default. The settings are the database's, so they
// hold for every connection of db's pool, opened now or later.
func (s *Sandbox) Apply(ctx context.Context, db *sql.DB, tempDir string) error {
	dirs, err := allowedDirs(s.AllowDirs)
	if err != nil {
		return err
	}
	var stmts []string
	if tempDir != "" {
		stmts = append(stmts, `SET temp_directory = `+quoteString(tempDir))
	}
	if len(dirs) > 0 {
		quoted := make([]string, len(dirs))
		for i, d := range dirs {
			quoted[i] = quoteString(d)
		}
		stmts = append(stmts, `SET allowed_directories = [`+strings.Join(quoted, ", ")+`]`)
	}
	if s.MemoryLimit != "" {
		stmts = append(stmts, `SET memory_limit = `+quoteString(s.MemoryLimit))
	}
	if s.Threads > 0 {
		stmts = append(stmts, `SET threads = `+strconv.Itoa(s.Threads))
	}
	stmts = append(stmts,
		`SET autoinstall_known_extensions = false`,
		`SET autoload_known_extensions = false`,
		`SET enable_external_access = false`,
		`SET lock_configuration = true`, // last: nothing above can be SET back
	)
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sandbox: %s: %w", stmt, err)
		}
	}
	return nil
}

// allowedDirs makes each directory absolute, with its symlinks resolved
// and a trailing separator: DuckDB compares prefixes, and "/data" would
// let "/database" in.
func allowedDirs(dirs []string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("--allow-dir %s: %w", d, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("--allow-dir %s: %w", d, err)
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--allow-dir %s: not a directory", d)
		}
		out = append(out, strings.TrimSuffix(real, string(filepath.Separator))+string(filepath.Separator))
	}
	return out, nil
}

// FairMemoryLimit is the default memory_limit of a daemon's session: a
// quarter of the machine's memory, so a few runaway sessions fail their own
// cells before the machine runs short; empty where the machine's memory is
// unknown (DuckDB's own default then).
func FairMemoryLimit() string {
	total := physicalMemory()
	if total <= 0 {
		return ""
	}
	mb := max(total/4>>20, 256)
	return strconv.FormatInt(mb, 10) + "MB"
}

// physicalMemory reads MemTotal from /proc/meminfo; 0 when it cannot.
func physicalMemory() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
