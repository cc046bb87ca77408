package cli

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	ucli "github.com/urfave/cli/v2"
)

func runCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "run",
		Usage: "run a one-off command in the app's live release and exit with its code",
		Description: "One argument is run as a shell command line (pier run -- 'rake db:migrate && echo ok');\n" +
			"several are quoted and run as one command (pier run -- echo 'a b').",
		ArgsUsage: "-- COMMAND [ARGS...]",
		Flags:     []ucli.Flag{appFlag()},
		Action:    runRun,
	}
}

func runRun(c *ucli.Context) error {
	as := c.Args().Slice()
	if len(as) == 0 {
		return fmt.Errorf("say what to run: pier run -a APP -- COMMAND [ARGS...]")
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	code, err := cl.Run(c.Context, app, commandLine(as), c.App.Writer)
	if err != nil {
		return fmt.Errorf("running %q on %s: %w", as[0], app, err)
	}
	if code != 0 {
		// The command spoke for itself; only its exit code is left to pass on.
		return &exitError{code: code}
	}
	return nil
}

var shellSafeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`) })

// commandLine is the shell command line of a one-off command: one argument
// as written, several quoted where needed.
func commandLine(as []string) string {
	if len(as) == 1 {
		return as[0]
	}
	parts := make([]string, len(as))
	for i, a := range as {
		if shellSafeRE().MatchString(a) {
			parts[i] = a
		} else {
			parts[i] = shellQuote(a)
		}
	}
	return strings.Join(parts, " ")
}
