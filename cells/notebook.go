package cells

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cellsd/cellsd/internal/limits"
)

// Cell types known to cellsd. Other types are kept and ignored.
const (
	TypeSQL   = "sql"
	TypeInput = "input"
	TypeText  = "text"
	TypeVega  = "vega"
)

// CoreConnector is the connector id of the embedded DuckDB. A SQL cell with
// no connectorId runs there too.
const CoreConnector = "duckdb-core"

// EdgeKindManual marks a saved edge that is added as a dependency. Saved edges
// of any other kind are recomputed from the SQL (DESIGN.md rule 9).
const EdgeKindManual = "manual"

// Notebook is one loaded notebook: every cell by id and the artifacts that
// group them.
type Notebook struct {
	// Path is the file the notebook was read from, used in messages.
	Path string
	// Title is the room's title of a saved UI state ("room.title"), else
	// empty.
	Title string
	// Cells holds every cell by id.
	Cells map[string]*Cell
	// Artifacts are sorted by id.
	Artifacts []*Artifact
	// TableDepSchemas lists the schemas whose tables SQLRooms treats as
	// table dependencies; kept for round trips.
	TableDepSchemas []string
	// Warnings are problems that do not stop a run, such as unknown cell types.
	Warnings []string

	// The document as read, for Marshal: its top level, whether it is a
	// whole UI state, and every cell's own JSON.
	doc      map[string]json.RawMessage
	uiState  bool
	rawCells map[string]json.RawMessage
}

// Cell is one notebook cell. Which fields are set depends on Type.
type Cell struct {
	ID   string
	Type string

	// Title is the cell title (sql, input, text and vega cells).
	Title string

	// SQL, ResultName and ConnectorID are set for sql cells.
	SQL         string
	ResultName  string
	ConnectorID string

	// Input is set for input cells.
	Input *Input

	// SQLID is the SQL cell a vega cell draws from.
	SQLID string

	// Refresh (data.refresh) is the cell's refresh policy, overriding
	// its connection's; nil when the cell sets none. UniqueKey
	// (data.unique_key) is the key an incremental refresh upserts by.
	Refresh   *Refresh
	UniqueKey string
}

// Input is the value side of an input cell.
type Input struct {
	Kind    string // text, slider or dropdown
	VarName string
	// Value is the current value: a string, a json.Number, a bool or nil.
	Value any
	// Min, Max and Step bound a slider; empty when the cell gives none.
	Min, Max, Step json.Number
	// Options are a dropdown's choices (strings, json.Numbers, ...); nil
	// when the cell gives none.
	Options []any
}

// Artifact is a notebook or canvas: the cells that form one dependency graph.
type Artifact struct {
	ID         string
	SchemaName string
	// CellIDs gives every cell's position; ties in the execution order are
	// broken by it.
	CellIDs []string
	Edges   []Edge
	// CellOrder is the display order saved by the SQLRooms UI, when present.
	CellOrder []string
}

// Edge is a saved dependency: Target depends on Source.
type Edge struct {
	ID     string `json:"id,omitempty"`
	Source string `json:"source"`
	Target string `json:"target"`
	Kind   string `json:"kind,omitempty"`
}

// Connector returns the connector id the cell runs on.
func (c *Cell) Connector() string {
	if c.ConnectorID == "" {
		return CoreConnector
	}
	return c.ConnectorID
}

// ErrNotNotebook is wrapped by the error for a JSON document that is neither
// a cells config nor a saved SQLRooms UI state.
var ErrNotNotebook = errors.New("not a SQLRooms notebook")

// LoadError is a problem with a notebook file. It names the file and, when
// the problem is in one cell or artifact, that too.
type LoadError struct {
	Path string
	// Where is "cell c1", "artifact nb1" or empty.
	Where string
	Err   error
}

func (e *LoadError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Path, e.Where, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load reads and parses the notebook at path, of at most
// limits.DefaultFileSize bytes.
func Load(path string) (*Notebook, error) { return LoadLimit(path, 0) }

// LoadLimit reads and parses the notebook at path, refusing one longer
// than limit bytes (limits.DefaultFileSize when limit <= 0).
func LoadLimit(path string, limit int64) (*Notebook, error) {
	data, err := limits.ReadFile(path, limit)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	return Parse(path, data)
}

// The wire shapes of the SQLRooms cells config.
type (
	fileCellsConfig struct {
		Data            map[string]json.RawMessage `json:"data"`
		Artifacts       map[string]fileArtifact    `json:"artifacts"`
		Sheets          map[string]fileArtifact    `json:"sheets"` // before SQLRooms 0.28
		TableDepSchemas []string                   `json:"tableDepSchemas"`
	}
	fileArtifact struct {
		ID         *string  `json:"id"`
		SchemaName string   `json:"schemaName"`
		CellIDs    []string `json:"cellIds"`
		Edges      []Edge   `json:"edges"`
	}
	fileCell struct {
		ID   *string         `json:"id"`
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	fileCellData struct {
		Title       string     `json:"title"`
		SQL         string     `json:"sql"`
		ResultName  string     `json:"resultName"`
		ConnectorID string     `json:"connectorId"`
		SQLID       string     `json:"sqlId"`
		Input       *fileInput `json:"input"`
		Refresh     *string    `json:"refresh"`
		UniqueKey   string     `json:"unique_key"`
	}
	fileInput struct {
		Kind    string          `json:"kind"`
		VarName string          `json:"varName"`
		Value   json.RawMessage `json:"value"`
		Min     json.RawMessage `json:"min"`
		Max     json.RawMessage `json:"max"`
		Step    json.RawMessage `json:"step"`
		Options json.RawMessage `json:"options"`
	}
	// fileUIState is a whole saved SQLRooms UI state.
	fileUIState struct {
		Cells    *fileCellsConfig `json:"cells"`
		Room     json.RawMessage  `json:"room"`
		Notebook struct {
			Artifacts map[string]struct {
				Meta struct {
					CellOrder []string `json:"cellOrder"`
				} `json:"meta"`
			} `json:"artifacts"`
		} `json:"notebook"`
	}
)

// Parse parses a notebook from data; path is used in messages only.
func Parse(path string, data []byte) (*Notebook, error) {
	fail := func(where string, err error) error {
		return &LoadError{Path: path, Where: where, Err: err}
	}
	if err := limits.JSONDepth(data); err != nil {
		return nil, fail("", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fail("", describeJSONError(data, err))
	}

	var cfg fileCellsConfig
	var cellOrder map[string][]string
	var title string
	switch {
	case top["cells"] != nil:
		var ui fileUIState
		if err := json.Unmarshal(data, &ui); err != nil {
			return nil, fail("", fmt.Errorf("%w: key \"cells\": %v", ErrNotNotebook, err))
		}
		if ui.Cells == nil {
			return nil, fail("", fmt.Errorf("%w: key \"cells\" is null", ErrNotNotebook))
		}
		cfg = *ui.Cells
		var room struct {
			Title string `json:"title"`
		}
		if json.Unmarshal(ui.Room, &room) == nil { // a room of another shape has no title
			title = room.Title
		}
		cellOrder = make(map[string][]string)
		for id, a := range ui.Notebook.Artifacts {
			cellOrder[id] = a.Meta.CellOrder
		}
	case top["data"] != nil:
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fail("", fmt.Errorf("%w: %v", ErrNotNotebook, err))
		}
	default:
		return nil, fail("", fmt.Errorf("%w: expected a cells config (keys \"data\" and \"artifacts\") or a saved UI state (key \"cells\")", ErrNotNotebook))
	}
	if cfg.Data == nil {
		return nil, fail("", fmt.Errorf("%w: no \"data\" object with the cells", ErrNotNotebook))
	}
	if cfg.Artifacts == nil {
		cfg.Artifacts = cfg.Sheets
	}
	if cfg.Artifacts == nil {
		return nil, fail("", fmt.Errorf("%w: no \"artifacts\" object", ErrNotNotebook))
	}

	nb := &Notebook{
		Path:            path,
		Title:           title,
		Cells:           make(map[string]*Cell, len(cfg.Data)),
		TableDepSchemas: cfg.TableDepSchemas,
		doc:             top,
		uiState:         top["cells"] != nil,
		rawCells:        cfg.Data,
	}
	for _, key := range sortedKeys(cfg.Data) {
		c, warn, err := parseCell(key, cfg.Data[key])
		if err != nil {
			return nil, fail("cell "+strconv.Quote(key), err)
		}
		if warn != "" {
			nb.Warnings = append(nb.Warnings, fmt.Sprintf("%s: cell %q: %s", path, key, warn))
		}
		nb.Cells[key] = c
	}

	for _, key := range sortedKeys(cfg.Artifacts) {
		fa := cfg.Artifacts[key]
		where := "artifact " + strconv.Quote(key)
		if fa.ID != nil && *fa.ID != key {
			return nil, fail(where, fmt.Errorf("id %q does not match its key", *fa.ID))
		}
		a := &Artifact{ID: key, SchemaName: fa.SchemaName, CellIDs: fa.CellIDs, Edges: fa.Edges, CellOrder: cellOrder[key]}
		seen := make(map[string]bool, len(a.CellIDs))
		for _, id := range a.CellIDs {
			if nb.Cells[id] == nil {
				return nil, fail(where, fmt.Errorf("cellIds lists unknown cell %q", id))
			}
			if seen[id] {
				return nil, fail(where, fmt.Errorf("cellIds lists cell %q twice", id))
			}
			seen[id] = true
		}
		for _, e := range a.Edges {
			if e.Kind == EdgeKindManual && (!seen[e.Source] || !seen[e.Target]) {
				return nil, fail(where, fmt.Errorf("manual edge %s -> %s names a cell outside the artifact", e.Source, e.Target))
			}
		}
		nb.Artifacts = append(nb.Artifacts, a)
	}
	return nb, nil
}

func parseCell(key string, raw json.RawMessage) (*Cell, string, error) {
	var fc fileCell
	if err := json.Unmarshal(raw, &fc); err != nil {
		return nil, "", fmt.Errorf("not a cell object: %v", err)
	}
	if fc.ID == nil || *fc.ID == "" {
		return nil, "", errors.New(`missing "id"`)
	}
	if *fc.ID != key {
		return nil, "", fmt.Errorf("id %q does not match its key", *fc.ID)
	}
	if fc.Type == "" {
		return nil, "", errors.New(`missing "type"`)
	}
	c := &Cell{ID: key, Type: fc.Type}
	switch fc.Type {
	case TypeSQL, TypeInput, TypeText, TypeVega:
	default:
		return c, fmt.Sprintf("unknown cell type %q, ignored", fc.Type), nil
	}
	var d fileCellData
	if len(fc.Data) > 0 && !bytes.Equal(fc.Data, []byte("null")) {
		if err := json.Unmarshal(fc.Data, &d); err != nil {
			return nil, "", fmt.Errorf("data: %v", err)
		}
	}
	c.Title = d.Title
	switch fc.Type {
	case TypeSQL:
		c.SQL, c.ResultName, c.ConnectorID, c.UniqueKey = d.SQL, d.ResultName, d.ConnectorID, d.UniqueKey
		if d.Refresh != nil {
			r, err := ParseRefresh(*d.Refresh)
			if err != nil {
				return nil, "", fmt.Errorf("data.refresh: %w", err)
			}
			c.Refresh = &r
		}
		if err := checkRefresh(c); err != nil {
			return nil, "", err
		}
	case TypeVega:
		c.SQLID = d.SQLID
	case TypeInput:
		if d.Input == nil {
			return nil, "", errors.New(`input cell without "data.input"`)
		}
		v, err := decodeValue(d.Input.Value)
		if err != nil {
			return nil, "", fmt.Errorf("data.input.value: %v", err)
		}
		c.Input = &Input{Kind: d.Input.Kind, VarName: d.Input.VarName, Value: v}
		for _, b := range []struct {
			name string
			raw  json.RawMessage
			to   *json.Number
		}{{"min", d.Input.Min, &c.Input.Min}, {"max", d.Input.Max, &c.Input.Max}, {"step", d.Input.Step, &c.Input.Step}} {
			v, err := decodeValue(b.raw)
			if err != nil {
				return nil, "", fmt.Errorf("data.input.%s: %v", b.name, err)
			}
			if n, ok := v.(json.Number); ok {
				*b.to = n
			}
		}
		if opts, err := decodeValue(d.Input.Options); err != nil {
			return nil, "", fmt.Errorf("data.input.options: %v", err)
		} else if list, ok := opts.([]any); ok {
			c.Input.Options = list
		}
	}
	return c, "", nil
}

func decodeValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// describeJSONError turns a decoding error into one that gives the line and
// column of a syntax error.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		offset := int(syn.Offset) - 1 // the offending byte
		if syn.Offset == int64(len(data)) && strings.HasPrefix(syn.Error(), "unexpected end") {
			offset = len(data) // no offending byte: the input ended early
		}
		line, col := LineColumn(string(data), offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, syn)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("%w: the document is a JSON %s, not an object", ErrNotNotebook, typ.Value)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

// LineColumn converts a byte offset in text to a 1-based line and a 1-based
// column counted in characters. An offset past the end points just after the
// last character.
func LineColumn(text string, offset int) (line, column int) {
	offset = max(0, min(offset, len(text)))
	before := text[:offset]
	line = strings.Count(before, "\n") + 1
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, len([]rune(before[lineStart:])) + 1
}

// ByteOffset converts a 0-based character position in text, as parsers
// report them, to a byte offset.
func ByteOffset(text string, chars int) int {
	offset := 0
	for ; chars > 0 && offset < len(text); chars-- {
		_, size := utf8.DecodeRuneInString(text[offset:])
		offset += size
	}
	return offset
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Artifact returns the artifact with the given id, or nil.
func (nb *Notebook) Artifact(id string) *Artifact {
	for _, a := range nb.Artifacts {
		if a.ID == id {
			return a
		}
	}
	return nil
}
