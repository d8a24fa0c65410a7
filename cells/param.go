package cells

import (
	"encoding/json"
	"fmt"
)

// The one parser of parameters: text as `VAR=VALUE` (--param, a
// fixture's params file) through ApplyParam, JSON values (the job API's
// open params and update value) through DecodeValue; both end in
// SetParam's checks.

// ApplyParam sets a VAR=VALUE parameter on the notebook's input cells
// (ParseParam, then SetParam).
func (nb *Notebook) ApplyParam(s string) error {
	name, value, err := ParseParam(s)
	if err != nil {
		return fmt.Errorf("--param %w", err)
	}
	if err := nb.SetParam(name, value); err != nil {
		return fmt.Errorf("--param %w", err)
	}
	return nil
}

// DecodeValue reads an input value from JSON as a notebook's values are
// read: numbers kept as written (json.Number).
func DecodeValue(raw json.RawMessage) (any, error) { return decodeValue(raw) }
