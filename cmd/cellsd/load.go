package main

import (
	"log/slog"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine"
)

// notebookFlags are the flags every command that reads a notebook shares.
type notebookFlags struct {
	Notebook    string `arg:"" name:"notebook" help:"Saved SQLRooms notebook (cells config or whole UI state)." type:"path" predictor:"file"`
	Connections string `help:"Connections config (TOML, [[db.connectors]])." type:"path" placeholder:"FILE" predictor:"file"`
}

// load reads the notebook and the connections; every failure is a usage
// error naming the file.
func (f *notebookFlags) load(e *env) (*cells.Notebook, *connectors.Registry, error) {
	nb, err := cells.Load(f.Notebook)
	if err != nil {
		return nil, nil, usageError{err}
	}
	for _, w := range nb.Warnings {
		e.log.Warn(w)
	}
	reg, err := loadConnections(f.Connections, e.log)
	if err != nil {
		return nil, nil, err
	}
	return nb, reg, nil
}

// loadConnections reads the connections config at path, if any, and logs
// its warnings; a failure is a usage error naming the file.
func loadConnections(path string, log *slog.Logger) (*connectors.Registry, error) {
	return loadConnectionsLimit(path, 0, log)
}

// loadConnectionsLimit is loadConnections refusing a file over limit
// bytes (limits.DefaultFileSize when 0).
func loadConnectionsLimit(path string, limit int64, log *slog.Logger) (*connectors.Registry, error) {
	if path == "" {
		return nil, nil
	}
	reg, err := connectors.LoadFileLimit(path, limit)
	if err != nil {
		return nil, usageError{err}
	}
	for _, w := range reg.Warnings() {
		log.Warn(w)
	}
	return reg, nil
}

// openEngine opens an engine, or says which setting stopped it.
func openEngine(e *env, cfg engine.Config) (*engine.Engine, error) {
	cfg.Logger = e.log
	if cfg.Sources == nil {
		cfg.Sources = e.sources
	}
	eng := engine.New(cfg)
	if err := eng.Open(e.ctx); err != nil {
		eng.Close()
		return nil, usageError{err}
	}
	return eng, nil
}
