package cells

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Input kinds of the SQLRooms input cell.
const (
	InputText     = "text"
	InputSlider   = "slider"
	InputDropdown = "dropdown"
)

// ErrBadValue is wrapped by the error for a value an input cell does not
// take.
var ErrBadValue = errors.New("bad input value")

// Accept checks v as a new value of the input and returns the value to
// store. It is the one check every way of setting an input goes through
// (`--param`, the job API's open params and update, fixture params): v is
// either text, as a command line gives it, or a value decoded from JSON
// (a string, a json.Number, a bool or nil).
//
//   - slider: a number (text that is a JSON number, or a JSON number),
//     within min and max when the cell gives them; stored as a json.Number.
//   - dropdown: with options, one of them (compared as text, so "2" picks
//     the option 2), stored as the option; without options, as text.
//   - text (and any other kind): a string; a JSON number or bool is taken
//     as its text, as the command line would give it.
//
// The error wraps ErrBadValue.
func (in *Input) Accept(v any) (any, error) {
	text, isText := valueAsText(v)
	switch in.Kind {
	case InputSlider:
		n, ok := v.(json.Number)
		if !ok {
			if !isText || !isJSONNumber(text) {
				return nil, fmt.Errorf("%w: a slider needs a number, got %s", ErrBadValue, describe(v))
			}
			n = json.Number(text)
		}
		f, err := n.Float64()
		if err != nil || !isJSONNumber(string(n)) {
			return nil, fmt.Errorf("%w: a slider needs a number, got %s", ErrBadValue, describe(v))
		}
		if in.Min != "" {
			if lo, err := in.Min.Float64(); err == nil && f < lo {
				return nil, fmt.Errorf("%w: %s is below the slider's min %s", ErrBadValue, n, in.Min)
			}
		}
		if in.Max != "" {
			if hi, err := in.Max.Float64(); err == nil && f > hi {
				return nil, fmt.Errorf("%w: %s is above the slider's max %s", ErrBadValue, n, in.Max)
			}
		}
		return n, nil
	case InputDropdown:
		if !isText {
			return nil, fmt.Errorf("%w: a dropdown needs one of its options, got %s", ErrBadValue, describe(v))
		}
		if in.Options == nil {
			return text, nil
		}
		for _, o := range in.Options {
			if ot, ok := valueAsText(o); ok && ot == text {
				return o, nil
			}
		}
		return nil, fmt.Errorf("%w: %q is not one of the dropdown's options (%s)", ErrBadValue, text, optionList(in.Options))
	default:
		if !isText {
			return nil, fmt.Errorf("%w: a text input needs a string, got %s", ErrBadValue, describe(v))
		}
		return text, nil
	}
}

// valueAsText is v as text, when it has one: a string, a number, a bool.
func valueAsText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

// isJSONNumber reports whether s is a number as JSON writes it (no Inf,
// NaN, hex, leading +, underscores).
func isJSONNumber(s string) bool {
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}

func describe(v any) string {
	if v == nil {
		return "null"
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(data)
}

func optionList(opts []any) string {
	parts := make([]string, 0, len(opts))
	for _, o := range opts {
		parts = append(parts, describe(o))
	}
	if len(parts) > 10 {
		parts = append(slices.Clip(parts[:10]), "...")
	}
	return strings.Join(parts, ", ")
}

// ParseParam splits a VAR=VALUE parameter, as --param and a fixture's
// params file give them.
func ParseParam(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return "", "", fmt.Errorf("%q: want VAR=VALUE", s)
	}
	return name, value, nil
}

// SetParam overrides the value of every input cell whose varName is name,
// as `cellsd run --param name=value` does; value is text or a value
// decoded from JSON, checked by [Input.Accept]. Nothing changes when a
// cell refuses it.
func (nb *Notebook) SetParam(name string, value any) error {
	var targets []*Cell
	for _, id := range sortedKeys(nb.Cells) {
		if c := nb.Cells[id]; c.Input != nil && c.Input.VarName == name {
			targets = append(targets, c)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("%s: %s has no input cell with varName %q (%s)", name, nb.Path, name, nb.describeVars())
	}
	values := make([]any, len(targets))
	for i, c := range targets {
		v, err := c.Input.Accept(value)
		if err != nil {
			return fmt.Errorf("%s=%s: input cell %q (%s): %w", name, describeParam(value), c.ID, c.Input.Kind, err)
		}
		values[i] = v
	}
	for i, c := range targets {
		c.Input.Value = values[i]
	}
	return nil
}

// describeVars lists the notebook's input variables, for a message about
// one it lacks.
func (nb *Notebook) describeVars() string {
	seen := map[string]bool{}
	var vars []string
	for _, id := range sortedKeys(nb.Cells) {
		if c := nb.Cells[id]; c.Input != nil && c.Input.VarName != "" && !seen[c.Input.VarName] {
			seen[c.Input.VarName] = true
			vars = append(vars, c.Input.VarName)
		}
	}
	if len(vars) == 0 {
		return "it has no input variables"
	}
	sort.Strings(vars)
	return "its variables: " + strings.Join(vars, ", ")
}

func describeParam(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return describe(v)
}
