package registry_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/connectors/mysql"
	"github.com/cellsd/cellsd/connectors/postgres"
	"github.com/cellsd/cellsd/connectors/registry"
	"github.com/cellsd/cellsd/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestSources_OnePerConnection(t *testing.T) {
	srcs := registry.New()
	pg := connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)}
	my := connectors.Connection{ID: "my", Engine: connectors.EngineMySQL, Host: "127.0.0.1", User: "u", Database: "d"}
	br := connectors.Connection{ID: "br", Engine: connectors.EngineBridge, URL: "http://127.0.0.1:1", RemoteID: "pg"}
	for _, tt := range []struct {
		c    connectors.Connection
		want func(connectors.Source) bool
	}{
		{pg, func(s connectors.Source) bool { _, ok := s.(*postgres.Source); return ok }},
		{my, func(s connectors.Source) bool { _, ok := s.(*mysql.Source); return ok }},
		{br, func(s connectors.Source) bool { _, ok := s.(*bridge.Client); return ok }},
	} {
		s1, err := srcs.Source(tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.c.ID, err)
		}
		if !tt.want(s1) {
			t.Errorf("%s: source %T", tt.c.ID, s1)
		}
		if s2, _ := srcs.Source(tt.c); s2 != s1 {
			t.Errorf("%s: a second Source for the same connection", tt.c.ID)
		}
	}
	s, _ := srcs.Source(pg)
	if err := s.Fetch(context.Background(), connectors.Query{SQL: "SELECT 1"}, nil); err != nil {
		t.Errorf("fetch before Close: %v", err)
	}
	if err := srcs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srcs.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := srcs.Source(pg); !errors.Is(err, registry.ErrClosed) {
		t.Errorf("Source after Close: %v, want ErrClosed", err)
	}
}

func TestSources_UnknownEngine(t *testing.T) {
	srcs := registry.New()
	defer srcs.Close()
	_, err := srcs.Source(connectors.Connection{ID: "x", Engine: "oracle"})
	if err == nil || !strings.Contains(err.Error(), "connector x: oracle cells cannot run") {
		t.Errorf("err %v", err)
	}
}
