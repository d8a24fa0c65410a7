// Command cellsd executes notebooks of SQL cells as a dependency graph on
// embedded DuckDB. See README.md for the subcommands and their flags.
//
// It is over the ~1,500 lines the house aims a package at because it holds
// one file per subcommand (run, graph, query, check, watch, serve, worker,
// events, completion, version) and their shared loading and output; each file only parses flags and wires
// engine, connectors and daemon, and splitting would only spread the flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/cellsd/cellsd/connectors/registry"
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

// errInterrupted reports a run stopped by Ctrl-C (or SIGTERM): what
// finished was printed; the exit code is 130, as a shell gives a process
// killed by SIGINT.
var errInterrupted = errors.New("interrupted")

// exitInterrupted is the exit code of an interrupted run.
const exitInterrupted = 130

type cli struct {
	Version    versionFlag   `help:"Print cellsd's version, commit and DuckDB version, and exit."`
	Quiet      bool          `short:"q" help:"Print only what failed and the summary."`
	Verbose    bool          `short:"v" help:"Print every cell as it starts and finishes, and debug logs."`
	LogFormat  string        `name:"log-format" enum:"text,json" default:"text" help:"Log format: ${enum}."`
	LogLevel   string        `name:"log-level" placeholder:"LEVEL" help:"Lowest level logged: debug, info, warn or error (default: info for serve, warn otherwise)."`
	VersionCmd versionCmd    `cmd:"" name:"version" help:"Print cellsd's version, commit and DuckDB version."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script: eval \"$(cellsd completion bash)\"."`

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
	// sources are the external connections' Sources, shared by the
	// command's engines.
	sources *registry.Sources
	// quiet and verbose are --quiet and --verbose: how much progress says.
	quiet, verbose bool
}

// newLogger is the logger of --log-format and --log-level.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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
		kong.Vars{"cpus": strconv.Itoa(runtime.NumCPU())},
	)
	if err != nil {
		panic(err) // the grammar above is wrong
	}
	if completing() {
		answerCompletion(parser, func(code int) { exit = code })
		return exit
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 {
		return exit // --help
	}
	if err != nil {
		fmt.Fprintf(stderr, "cellsd: %v\n", err)
		return exitUsage
	}
	// One set of connection pools for the process, closed as it ends.
	sources := registry.New()
	defer sources.Close()
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, sources: sources, quiet: c.Quiet, verbose: c.Verbose}
	level := c.LogLevel
	if level == "" {
		level = "warn"
		if kctx.Command() == "serve" {
			level = "info"
		}
		if c.Verbose {
			level = "debug"
		}
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		fmt.Fprintf(stderr, "cellsd: --log-level must be debug, info, warn or error, got %q\n", level)
		return exitUsage
	}
	e.log = newLogger(stderr, c.LogFormat, l)
	if c.Quiet && c.Verbose {
		fmt.Fprintln(stderr, "cellsd: --quiet and --verbose cannot be combined")
		return exitUsage
	}
	err = kctx.Run(e)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errFailed):
		return exitFailed
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(stderr, "cellsd: interrupted")
		return exitInterrupted
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "cellsd: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "cellsd: %v\n", err)
		return exitFailed
	}
}
