package jobapi

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
)

// TestQuery_ClosedSession answers not_found when the request reaches a
// session that closed meanwhile (its subscription not yet gone).
func TestQuery_ClosedSession(t *testing.T) {
	nb, err := cells.Parse("nb", json.RawMessage(`{"data":{"c":{"id":"c","type":"sql","data":{"title":"c","sql":"SELECT 1 AS x"}}},"artifacts":{"a":{"id":"a","cellIds":["c"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	es, err := engine.OpenSession(context.Background(), engine.Config{}, nb, engine.SessionOptions{ID: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	es.Close()
	for _, body := range []string{`{"cellId":"c"}`, `{"sql":"SELECT 1"}`} {
		_, err := Query(es, []byte(body))
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != CodeNotFound {
			t.Errorf("%s on a closed session: %v, want not_found", body, err)
		}
	}
}
