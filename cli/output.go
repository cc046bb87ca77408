package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// jsonFlag asks for a stable JSON document instead of a table. It is both a
// global flag (`pier --json apps list`) and one of each client command
// (`pier apps list --json`).
func jsonFlag() *ucli.BoolFlag {
	return &ucli.BoolFlag{Name: "json", Usage: "print a JSON document instead of a table"}
}

// wantJSON reports whether --json was given on the command or a parent.
func wantJSON(c *ucli.Context) bool {
	for _, x := range c.Lineage() {
		if (x.Command != nil || x.App != nil) && x.Bool("json") {
			return true
		}
	}
	return false
}

// printJSON writes v as indented JSON to the command's stdout.
func printJSON(c *ucli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns to w.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// ago says how long before now t was: "45s ago", "3m ago", "2h ago", "4d ago".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return shortDuration(now.Sub(t)) + " ago"
}

// shortDuration rounds d to its largest unit: "45s", "3m", "2h", "4d".
func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// short is the first 7 characters of a commit id.
func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

func versionName(v int) string {
	if v <= 0 {
		return ""
	}
	return fmt.Sprintf("v%d", v)
}

// progress writes a progress line ("Restarting hello... ") to stderr.
func progress(c *ucli.Context, format string, args ...any) {
	fmt.Fprintf(c.App.ErrWriter, format, args...)
}

// args returns the command's arguments, refusing flags written after them
// (urfave/cli stops reading flags at the first argument).
func args(c *ucli.Context) ([]string, error) {
	as := c.Args().Slice()
	for _, a := range as {
		if len(a) > 1 && strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("flag %s comes after the arguments: put flags first, as in `%s %s ...`", a, helpName(c), a)
		}
	}
	return as, nil
}

// oneArg is the one argument of a command, named what.
func oneArg(c *ucli.Context, what string) (string, error) {
	as, err := args(c)
	if err != nil {
		return "", err
	}
	if len(as) != 1 {
		return "", fmt.Errorf("give one %s: %s [-a APP] %s", what, helpName(c), what)
	}
	return as[0], nil
}

// clientFlags are the flags every client command takes.
func clientFlags(extra ...ucli.Flag) []ucli.Flag {
	return append([]ucli.Flag{jsonFlag()}, extra...)
}

// appFlags are the flags of a command that works on one app.
func appFlags(extra ...ucli.Flag) []ucli.Flag {
	return append([]ucli.Flag{appFlag(), jsonFlag()}, extra...)
}

// now is the clock of relative times; tests fix it.
var now = time.Now
