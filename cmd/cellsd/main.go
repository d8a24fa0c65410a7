// Command cellsd executes notebooks of SQL cells as a dependency graph on
// embedded DuckDB. See README.md for the subcommands and their flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// Exit codes (DESIGN.md "CLI contract").
const (
	exitOK     = 0
	exitFailed = 1 // the work ran and something failed
	exitUsage  = 2 // usage or load error
)

// usageError is a problem with the command line or the files it names.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errFailed reports that the work ran and some of it failed; the details
// were already printed.
var errFailed = errors.New("some cells did not succeed")

type cli struct {
	Run    runCmd    `cmd:"" help:"Run every cell of a notebook in dependency order."`
	Query  queryCmd  `cmd:"" help:"Run the cells a query on a notebook's results needs, then the query; print its result."`
	Graph  graphCmd  `cmd:"" help:"Print a notebook's dependency graph."`
	Check  checkCmd  `cmd:"" help:"Run notebook fixtures and compare them with their goldens (CI regression)."`
	Serve  serveCmd  `cmd:"" help:"The daemon: sessions over NATS, status events, the SQLRooms DB bridge over HTTP."`
	Worker workerCmd `cmd:"" help:"Take external cells' jobs from NATS and run them on the connections of a connections file."`
}

// env is what every command gets besides its flags.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()

	exit := -1
	var c cli
	parser, err := kong.New(&c,
		kong.Name("cellsd"),
		kong.Description("cellsd runs notebooks of SQL cells as a dependency graph on embedded DuckDB."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exit = code }),
	)
	if err != nil {
		panic(err) // the grammar above is wrong
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 {
		return exit // --help
	}
	if err != nil {
		fmt.Fprintf(stderr, "cellsd: %v\n", err)
		return exitUsage
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	err = kctx.Run(e)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errFailed):
		return exitFailed
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "cellsd: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "cellsd: %v\n", err)
		return exitFailed
	}
}
