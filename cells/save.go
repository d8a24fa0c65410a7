package cells

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Marshal returns the notebook as SQLRooms saves it: the cells config, or
// the whole UI state when it was read from one, with the cells as they now
// stand. Everything cellsd does not model (unknown keys at any level,
// other cell types, a vega spec, a UI state's layout and room) is kept as
// it was read: a cell nobody changed is written back byte for byte, and a
// changed one has only its changed fields replaced. So Parse(Marshal(nb))
// gives nb again, and a document read and marshalled unchanged is the same
// JSON (key order and spacing aside).
func (nb *Notebook) Marshal() ([]byte, error) {
	data := make(map[string]json.RawMessage, len(nb.Cells))
	for _, id := range sortedKeys(nb.Cells) {
		raw, err := nb.marshalCell(nb.Cells[id])
		if err != nil {
			return nil, fmt.Errorf("marshal cell %q: %w", id, err)
		}
		data[id] = raw
	}
	cfg := map[string]json.RawMessage{}
	if nb.doc != nil {
		src := nb.doc
		if nb.uiState {
			if err := json.Unmarshal(nb.doc["cells"], &cfg); err != nil {
				return nil, fmt.Errorf("marshal notebook: %w", err)
			}
		} else {
			for k, v := range src {
				cfg[k] = v
			}
		}
	}
	var err error
	if cfg["data"], err = json.Marshal(data); err != nil {
		return nil, err
	}
	if nb.doc == nil {
		if cfg["artifacts"], err = json.Marshal(nb.fileArtifacts()); err != nil {
			return nil, err
		}
		if cfg["tableDepSchemas"], err = json.Marshal(nonNilStrings(nb.TableDepSchemas)); err != nil {
			return nil, err
		}
	}
	if !nb.uiState {
		return json.Marshal(cfg)
	}
	top := make(map[string]json.RawMessage, len(nb.doc))
	for k, v := range nb.doc {
		top[k] = v
	}
	if top["cells"], err = json.Marshal(cfg); err != nil {
		return nil, err
	}
	return json.Marshal(top)
}

// marshalCell writes a cell: its JSON as read when unchanged, else that
// JSON with the changed fields replaced, else (a cell that was never read)
// a new object.
func (nb *Notebook) marshalCell(c *Cell) (json.RawMessage, error) {
	raw := nb.rawCells[c.ID]
	if raw == nil {
		return json.Marshal(newFileCell(c))
	}
	orig, _, err := parseCell(c.ID, raw)
	if err != nil {
		return nil, err
	}
	if reflect.DeepEqual(orig, c) {
		return raw, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	var d map[string]json.RawMessage
	if b := obj["data"]; len(b) > 0 && !bytes.Equal(b, []byte("null")) {
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, err
		}
	}
	if d == nil {
		d = map[string]json.RawMessage{}
	}
	set := func(m map[string]json.RawMessage, key string, v any) error {
		b, err := json.Marshal(v)
		m[key] = b
		return err
	}
	for _, f := range []struct {
		key       string
		old, next string
	}{{"title", orig.Title, c.Title}, {"sql", orig.SQL, c.SQL}, {"resultName", orig.ResultName, c.ResultName},
		{"connectorId", orig.ConnectorID, c.ConnectorID}, {"sqlId", orig.SQLID, c.SQLID}} {
		if f.old != f.next {
			if err := set(d, f.key, f.next); err != nil {
				return nil, err
			}
		}
	}
	if c.Input != nil && (orig.Input == nil || !reflect.DeepEqual(*orig.Input, *c.Input)) {
		in := map[string]json.RawMessage{}
		if b := d["input"]; len(b) > 0 {
			json.Unmarshal(b, &in) // parseCell read it: an object
		}
		fi := newFileInput(c.Input)
		for k, v := range fi {
			if err := set(in, k, v); err != nil {
				return nil, err
			}
		}
		if err := set(d, "input", in); err != nil {
			return nil, err
		}
	}
	if err := set(obj, "data", d); err != nil {
		return nil, err
	}
	if orig.Type != c.Type {
		if err := set(obj, "type", c.Type); err != nil {
			return nil, err
		}
	}
	return json.Marshal(obj)
}

func newFileCell(c *Cell) map[string]any {
	d := map[string]any{"title": c.Title}
	switch c.Type {
	case TypeSQL:
		d["sql"] = c.SQL
		if c.ResultName != "" {
			d["resultName"] = c.ResultName
		}
		if c.ConnectorID != "" {
			d["connectorId"] = c.ConnectorID
		}
	case TypeVega:
		d["sqlId"] = c.SQLID
	case TypeInput:
		if c.Input != nil {
			d["input"] = newFileInput(c.Input)
		}
	}
	return map[string]any{"id": c.ID, "type": c.Type, "data": d}
}

// newFileInput is the input's fields as SQLRooms writes them.
func newFileInput(in *Input) map[string]any {
	m := map[string]any{"kind": in.Kind, "varName": in.VarName, "value": in.Value}
	for k, v := range map[string]json.Number{"min": in.Min, "max": in.Max, "step": in.Step} {
		if v != "" {
			m[k] = v
		}
	}
	if in.Options != nil {
		m["options"] = in.Options
	}
	return m
}

func (nb *Notebook) fileArtifacts() map[string]any {
	out := make(map[string]any, len(nb.Artifacts))
	for _, a := range nb.Artifacts {
		fa := map[string]any{"id": a.ID, "cellIds": nonNilStrings(a.CellIDs), "edges": a.Edges}
		if a.Edges == nil {
			fa["edges"] = []Edge{}
		}
		if a.SchemaName != "" {
			fa["schemaName"] = a.SchemaName
		}
		out[a.ID] = fa
	}
	return out
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
