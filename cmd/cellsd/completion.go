package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
)

// completionCmd is `cellsd completion bash|zsh|fish`: it prints the script
// that makes the shell ask cellsd itself for completions (kongplete
// answers them from the grammar, see answerCompletion).
type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: ${enum}."`
}

// completionScripts hook a shell's completion to `cellsd` called with
// COMP_LINE set, the protocol of posener/complete that kongplete answers.
var completionScripts = map[string]string{
	"bash": "complete -C %[1]s %[2]s\n",
	"zsh":  "autoload -U +X bashcompinit && bashcompinit\ncomplete -C %[1]s %[2]s\n",
	"fish": `function __complete_%[2]s
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    %[1]s
end
complete -f -c %[2]s -a "(__complete_%[2]s)"
`,
}

func (c *completionCmd) Run(e *env) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("completion: find cellsd's own path: %w", err)
	}
	_, err = fmt.Fprintf(e.stdout, completionScripts[c.Shell], shellQuote(bin), "cellsd")
	return err
}

// shellQuote quotes a path for the three shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// completing reports whether the shell is asking for completions.
func completing() bool { return os.Getenv("COMP_LINE") != "" }

// answerCompletion answers the shell's completion request from the grammar: file
// names for notebooks, connections and reports.
func answerCompletion(parser *kong.Kong, exit func(int)) {
	kongplete.Complete(parser,
		kongplete.WithPredictor("file", complete.PredictFiles("*")),
		kongplete.WithExitFunc(exit),
	)
}
