package cells

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A Diagnostic is a cell's error as a person reads it, like a compiler's:
//
//	nb.json: artifact nb, cell rt ("Runtime"), line 3, column 3:
//	Conversion Error: Could not convert string 'x0' to INT32
//	  3 |   CAST('x' || id AS INTEGER) AS bad
//	    |   ^
//
// Line and Column are the cell's own (1-based; 0 when unknown). Message is
// the error without its position; Notes are the lines printed after the
// caret (Postgres's DETAIL and HINT).
type Diagnostic struct {
	File     string
	Artifact string
	Cell     *Cell
	Line     int
	Column   int
	Message  string
	Notes    []string
}

// Label names a cell where a person reads it: its title with the id in
// parentheses, or the id alone when it has no title.
func Label(c *Cell) string {
	if c.Title == "" || c.Title == c.ID {
		return c.ID
	}
	return c.Title + " (" + c.ID + ")"
}

// String renders the diagnostic: the header naming file, artifact, cell and
// position, the message, the cell's line with a caret under the column,
// then the notes.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File + ": ")
	}
	fmt.Fprintf(&b, "artifact %s, cell %s", d.Artifact, d.Cell.ID)
	if d.Cell.Title != "" {
		fmt.Fprintf(&b, " (%q)", d.Cell.Title)
	}
	if d.Line > 0 {
		fmt.Fprintf(&b, ", line %d, column %d", d.Line, d.Column)
	}
	b.WriteString(":\n" + strings.TrimRight(d.Message, "\n") + "\n")
	if lines := strings.Split(d.Cell.SQL, "\n"); d.Line > 0 && d.Line <= len(lines) {
		text := strings.TrimRight(lines[d.Line-1], "\r")
		num := strconv.Itoa(d.Line)
		gutter := strings.Repeat(" ", len(num))
		caret := strings.Repeat(" ", caretWidth(text, d.Column-1))
		fmt.Fprintf(&b, "  %s | %s\n  %s | %s^\n", num, strings.ReplaceAll(text, "\t", " "), gutter, caret)
	}
	for _, n := range d.Notes {
		b.WriteString(n + "\n")
	}
	return b.String()
}

// caretWidth is the width of the first chars characters of line (tabs shown
// as one space).
func caretWidth(line string, chars int) int {
	return min(max(chars, 0), utf8.RuneCountInString(line))
}

// Diagnose makes the diagnostic of a cell's error message as the engine
// reports it, finding the position in the three forms it takes: a parse
// error of the plan ("parse error at line 3, column 6: ..."), DuckDB's
// LINE block with its caret, and Postgres's "(at line L, column C)" with
// DETAIL and HINT lines after it.
func Diagnose(file, artifact string, c *Cell, msg string) Diagnostic {
	d := Diagnostic{File: file, Artifact: artifact, Cell: c, Message: msg}
	if m := planPosition.FindStringSubmatch(msg); m != nil {
		d.Line, _ = strconv.Atoi(m[2])
		d.Column, _ = strconv.Atoi(m[3])
		d.Message = m[1] + " error: " + m[4]
		return d
	}
	if head, line, snippet, caret, ok := DuckDBLineBlock(msg); ok {
		d.Message = head
		lines := strings.Split(c.SQL, "\n")
		if line <= len(lines) {
			off, ok := SnippetOffset(lines[line-1], snippet, caret)
			if !ok {
				off, ok = placeholderOffset(lines[line-1], snippet, caret)
			}
			if ok {
				d.Line, d.Column = line, utf8.RuneCountInString(lines[line-1][:off])+1
			}
		}
		return d
	}
	main, notes := msg, ""
	if i := strings.Index(msg, "\nDETAIL: "); i >= 0 {
		main, notes = msg[:i], msg[i+1:]
	} else if i := strings.Index(msg, "\nHINT: "); i >= 0 {
		main, notes = msg[:i], msg[i+1:]
	}
	if notes != "" {
		d.Notes = strings.Split(notes, "\n")
	}
	d.Message = main
	if m := remotePosition.FindStringSubmatch(main); m != nil {
		d.Line, _ = strconv.Atoi(m[2])
		d.Column, _ = strconv.Atoi(m[3])
		d.Message = m[1]
	}
	return d
}

// The positions in the engine's own messages (not SQL: its error text).
var (
	planPosition   = regexp.MustCompile(`(?s)^([a-z-]+) error at line (\d+), column (\d+): (.*)$`)
	remotePosition = regexp.MustCompile(`(?s)^(.*) \(at line (\d+), column (\d+)\)$`)
)

// DuckDBLineBlock splits a DuckDB error message into the message around
// its LINE block (before it, and after it on lines of their own), the
// block's line number, the text of the line shown and the caret's offset
// (in characters) within that text.
func DuckDBLineBlock(msg string) (head string, line int, snippet string, caret int, ok bool) {
	i := strings.LastIndex(msg, "\n\nLINE ")
	if i < 0 {
		return "", 0, "", 0, false
	}
	head, block := msg[:i], msg[i+len("\n\n"):]
	text, caretLine, ok := strings.Cut(block, "\n")
	caretLine, tail, _ := strings.Cut(caretLine, "\n")
	if !ok || strings.TrimLeft(caretLine, " ") != "^" {
		return "", 0, "", 0, false
	}
	if tail != "" {
		head += "\n" + tail
	}
	num, rest, ok := strings.Cut(strings.TrimPrefix(text, "LINE "), ": ")
	if !ok {
		return "", 0, "", 0, false
	}
	line, err := strconv.Atoi(num)
	if err != nil || line < 1 {
		return "", 0, "", 0, false
	}
	caret = len(caretLine) - 1 - len("LINE ") - len(num) - len(": ")
	if caret < 0 {
		return "", 0, "", 0, false
	}
	return head, line, rest, caret, true
}

// SnippetOffset finds the text DuckDB showed of a line (maybe cut short
// with "..." at either end) in the full line and returns the byte offset
// in full of the character the caret is under.
func SnippetOffset(full, snippet string, caret int) (int, bool) {
	if s, cut := strings.CutPrefix(snippet, "..."); cut {
		snippet, caret = s, caret-len("...")
	}
	snippet = strings.TrimSuffix(snippet, "...")
	start := strings.Index(full, snippet)
	if start < 0 || caret < 0 {
		return 0, false
	}
	off := start
	for range caret {
		if off >= len(full) {
			return 0, false
		}
		_, n := utf8.DecodeRuneInString(full[off:])
		off += n
	}
	return off, true
}

// placeholderOffset is SnippetOffset for a line with {{var}} placeholders:
// DuckDB showed the rendered line, so each placeholder of full matches any
// non-empty text of the snippet and the rest must match exactly. A caret
// under a substituted value is put under the placeholder's "{{", so the
// position is in the SQL as the user wrote it.
func placeholderOffset(full, snippet string, caret int) (int, bool) {
	ps := scanPlaceholders(full)
	if len(ps) == 0 || caret < 0 {
		return 0, false
	}
	s, cutStart := strings.CutPrefix(snippet, "...")
	if cutStart {
		caret -= len("...")
	}
	s, cutEnd := strings.CutSuffix(s, "...")
	cb := 0 // the caret as a byte offset in s
	for range caret {
		if cb >= len(s) {
			return 0, false
		}
		_, n := utf8.DecodeRuneInString(s[cb:])
		cb += n
	}
	at := map[int]Placeholder{}
	for _, p := range ps {
		at[p.Start] = p
	}
	var match func(fi, si int) (int, bool)
	match = func(fi, si int) (int, bool) {
		if si == len(s) {
			return -1, cutEnd || fi == len(full)
		}
		if fi >= len(full) {
			return 0, false
		}
		if p, ok := at[fi]; ok {
			for end := si + 1; end <= len(s); end++ {
				off, ok := match(p.End, end)
				if !ok {
					continue
				}
				if cb >= si && cb < end {
					off = p.Start
				}
				return off, true
			}
			return 0, false
		}
		if full[fi] != s[si] {
			return 0, false
		}
		off, ok := match(fi+1, si+1)
		if ok && si == cb {
			off = fi
		}
		return off, ok
	}
	starts := []int{0}
	if cutStart {
		starts = starts[:0]
		for fi := range len(full) {
			starts = append(starts, fi)
		}
	}
	for _, fi := range starts {
		if off, ok := match(fi, 0); ok && off >= 0 {
			return off, true
		}
	}
	return 0, false
}
