package connectors_test

import (
	"errors"
	"testing"

	"github.com/cellsd/cellsd/connectors"
)

func TestClients(t *testing.T) {
	opened, closed := map[string]int{}, map[string]int{}
	cs := connectors.NewClients(func(c connectors.Connection) (string, error) {
		if c.ID == "bad" {
			return "", errors.New("cannot open bad")
		}
		opened[c.ID]++
		return "client of " + c.ID, nil
	}, func(cl string) error { closed[cl]++; return nil })

	for range 3 {
		cl, err := cs.Get(connectors.Connection{ID: "pg"})
		if err != nil || cl != "client of pg" {
			t.Fatalf("Get: %q, %v", cl, err)
		}
	}
	if _, err := cs.Get(connectors.Connection{ID: "bad"}); err == nil {
		t.Error("Get of a connection that cannot open: no error")
	}
	if opened["pg"] != 1 {
		t.Errorf("opened pg %d times, want once", opened["pg"])
	}
	cs.Close()
	cs.Close()
	if closed["client of pg"] != 1 {
		t.Errorf("closed %v, want the pg client once", closed)
	}
	if _, err := cs.Get(connectors.Connection{ID: "pg"}); !errors.Is(err, connectors.ErrClientsClosed) {
		t.Errorf("Get after Close: %v", err)
	}
}
