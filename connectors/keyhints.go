package connectors

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/cellsd/cellsd/internal/editdist"
)

// unknownKeysError is a [[db.connectors]] table with keys cellsd does not
// know.
type unknownKeysError struct {
	entry string // `connector "pg"`
	keys  []string
}

func (e *unknownKeysError) Error() string {
	return fmt.Sprintf("%s: unknown keys: %s", e.entry, strings.Join(e.keys, ", "))
}

// connectionKeys are the keys of a [[db.connectors]] table (see setField).
var connectionKeys = []string{"id", "engine", "title", "host", "port", "database", "user", "password",
	"password_env", "dsn", "read_only", "statement_timeout", "url", "connection_id", "token", "token_env", "dialect", "tls",
	"workers", "refresh", "unique_key"}

// hints says, for each unknown key of the index-th [[db.connectors]]
// table of data, the line it is on and the known key it is closest to:
//
//	line 5: prot: did you mean "port"?
func (e *unknownKeysError) hints(data []byte, index int) string {
	lines := keyLines(data, index)
	var b strings.Builder
	for _, k := range e.keys {
		b.WriteString("\n  ")
		if n, ok := lines[k]; ok {
			fmt.Fprintf(&b, "line %d: ", n)
		}
		b.WriteString(k)
		if s := closestKey(k); s != "" {
			fmt.Fprintf(&b, ": did you mean %q?", s)
		} else {
			fmt.Fprintf(&b, ": not a key of a connection (%s)", strings.Join(connectionKeys, ", "))
		}
	}
	return b.String()
}

// keyLines finds the line of each key of the index-th [[db.connectors]]
// table: a line of the table that starts with the key, then "=". It is a
// look at the text for a message, not a parse: the TOML was parsed before.
func keyLines(data []byte, index int) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	table, n := -1, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			if strings.ReplaceAll(line, " ", "") == "[[db.connectors]]" {
				table++
			} else if table == index {
				break
			}
			continue
		}
		if table != index {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok {
			k = strings.Trim(strings.TrimSpace(k), `"'`)
			if _, seen := out[k]; !seen {
				out[k] = n
			}
		}
	}
	return out
}

// closestKey is the known key within two edits of k, if any.
func closestKey(k string) string {
	best, bestD := "", 3
	for _, c := range connectionKeys {
		if d := editdist.Distance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
