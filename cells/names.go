package cells

import (
	"strings"
	"unicode/utf16"
)

// maxNameLen is the longest result name SQLRooms derives from a title.
const maxNameLen = 63

// ResultName returns the effective result name of a SQL cell: its resultName
// when that is a valid identifier, else a name derived from the title the
// way SQLRooms derives it ("Daily Orders" → daily_orders, "SQL 2" →
// result_2). A cell whose title leaves nothing is named from its id by the
// same rule (DESIGN.md rule 8). It is empty when nothing usable is left
// even then (an invalid-name error).
func ResultName(c *Cell) string {
	if isIdentifier(c.ResultName) {
		return c.ResultName
	}
	if name := nameFromTitle(c.Title); name != "" {
		return name
	}
	return nameFromTitle(c.ID)
}

// nameFromTitle is the result name SQLRooms derives from a title.
func nameFromTitle(title string) string {
	name := strings.ToLower(titleToName(title))
	if n, ok := defaultSQLTitle(name); ok {
		return n
	}
	return name
}

// ArtifactSchema returns the schema that holds an artifact's results: its
// schemaName, else "artifact_" and the id with every character outside
// [A-Za-z0-9_] replaced by '_', lowercased.
func ArtifactSchema(a *Artifact) string {
	if a.SchemaName != "" {
		return a.SchemaName
	}
	return "artifact_" + strings.ToLower(replaceInvalid(a.ID))
}

// isIdentifier reports whether s matches ^[A-Za-z_][A-Za-z0-9_]*$.
func isIdentifier(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

// titleToName follows SQLRooms' convertToValidColumnOrTableName: drop a
// trailing ".ext", replace invalid characters, prefix '_' before a leading
// digit, cut to 63 characters.
func titleToName(title string) string {
	if dot := strings.LastIndexByte(title, '.'); dot >= 0 && dot < len(title)-1 && !strings.ContainsRune(title[dot+1:], '/') {
		title = title[:dot]
	}
	name := replaceInvalid(title)
	if name != "" && isDigit(name[0]) {
		name = "_" + name
	}
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	return name
}

// replaceInvalid replaces every character outside [A-Za-z0-9_] with '_'.
// Like the JavaScript it mirrors, a character outside the Basic Multilingual
// Plane counts as two (one per UTF-16 code unit).
func replaceInvalid(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80 && isWordByte(byte(r)):
			b.WriteRune(r)
		case utf16.RuneLen(r) == 2:
			b.WriteString("__")
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// defaultSQLTitle maps the titles SQLRooms gives new cells ("SQL", "SQL
// Query", "SQL 3", "SQL Query 3", already normalised) to result names.
func defaultSQLTitle(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "sql")
	if !ok {
		return "", false
	}
	rest = strings.TrimPrefix(rest, "_query")
	if rest == "" {
		return "result", true
	}
	digits, ok := strings.CutPrefix(rest, "_")
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return "", false
	}
	return "result_" + digits, true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isWordByte(b byte) bool {
	return b == '_' || isDigit(b) || 'a' <= b|0x20 && b|0x20 <= 'z'
}
