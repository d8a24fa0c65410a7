// Package limits bounds what cellsd reads from files it is given: their
// size, read through io.LimitReader before anything parses them (never by
// stat alone: /dev/zero has size 0), and their nesting, checked by a
// linear scan before a parser that may be slower than linear sees them.
// Its functions are safe for concurrent use.
package limits

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultFileSize bounds a notebook or connections file: 16 MiB.
const DefaultFileSize int64 = 16 << 20

// MaxDepth bounds the nesting of a notebook's JSON or a connections TOML.
const MaxDepth = 64

// ErrTooLarge is returned for a file longer than its limit.
var ErrTooLarge = errors.New("file too large")

// ReadAll reads r up to limit bytes (DefaultFileSize when limit <= 0);
// more is ErrTooLarge.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultFileSize
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	return data, nil
}

// Over reports whether a regular file of size bytes is past limit
// (DefaultFileSize when limit <= 0): a refusal that reads nothing. A size
// within it is still read through ReadAll, which has the last word.
func Over(size, limit int64) bool {
	if limit <= 0 {
		limit = DefaultFileSize
	}
	return size > limit
}

// ReadFile is ReadAll of the file at path.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, limit)
}

// DepthError says where nesting went past MaxDepth.
type DepthError struct {
	Line, Col int
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("line %d, column %d: nested deeper than %d levels", e.Line, e.Col, MaxDepth)
}

// JSONDepth checks that data nests arrays and objects at most MaxDepth
// deep; it skips strings and does not otherwise validate.
func JSONDepth(data []byte) error {
	depth, line, col := 0, 1, 0
	inString, escaped := false, false
	for _, b := range data {
		col++
		switch {
		case b == '\n':
			line, col = line+1, 0
			inString = false // a JSON string has no raw newline; the parser will say so
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '[' || b == '{':
			if depth++; depth > MaxDepth {
				return &DepthError{Line: line, Col: col}
			}
		case b == ']' || b == '}':
			depth--
		}
	}
	return nil
}

// TOMLDepth checks that data nests arrays and inline tables at most
// MaxDepth deep; it skips comments and the four kinds of strings.
func TOMLDepth(data []byte) error {
	depth, line, col := 0, 1, 0
	for i := 0; i < len(data); i++ {
		b := data[i]
		col++
		switch b {
		case '\n':
			line, col = line+1, 0
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			quote := string([]byte{b, b, b})
			if i+3 <= len(data) && string(data[i:i+3]) == quote { // multi-line
				i += 3
				for i < len(data) && !(i+3 <= len(data) && string(data[i:i+3]) == quote) {
					if data[i] == '\n' {
						line, col = line+1, 0
					} else if b == '"' && data[i] == '\\' {
						i++
					}
					i++
				}
				i += 2
				continue
			}
			for i+1 < len(data) && data[i+1] != b && data[i+1] != '\n' {
				i++
				if b == '"' && data[i] == '\\' {
					i++
				}
			}
			i++
		case '[', '{':
			if depth++; depth > MaxDepth {
				return &DepthError{Line: line, Col: col}
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}
