package cli

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func configCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "config",
		Usage: "show an app's config vars; set, get and unset them (each change is a new release)",
		Flags: appFlags(&ucli.BoolFlag{Name: "shell", Usage: "print export K='V' lines for a shell"}),
		Subcommands: []*ucli.Command{
			configSetCommand(),
			configGetCommand(),
			configUnsetCommand(),
		},
		Action: runConfig,
	}
}

func runConfig(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) > 0 {
		return fmt.Errorf("unknown command %q (see `pier config --help`)", as[0])
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	vars, err := cl.Config(c.Context, app)
	if err != nil {
		return err
	}
	if vars == nil {
		vars = map[string]string{}
	}
	if wantJSON(c) {
		return printJSON(c, vars)
	}
	w := c.App.Writer
	for _, k := range sortedKeys(vars) {
		if c.Bool("shell") {
			fmt.Fprintf(w, "export %s=%s\n", k, shellQuote(vars[k]))
		} else {
			fmt.Fprintf(w, "%s=%s\n", k, vars[k])
		}
	}
	return warnLostConfig(c, cl, app)
}

// warnLostConfig names, on stderr, the app's config vars whose values were
// lost with the secret key (a backup restored without it).
func warnLostConfig(c *ucli.Context, cl *api.Client, app string) error {
	a, err := cl.GetApp(c.Context, app)
	if err != nil {
		return err
	}
	if len(a.LostConfig) > 0 {
		fmt.Fprintf(c.App.ErrWriter, "Undecryptable (lost with the secret key when a backup was restored without it): %s. Set them again with `pier config set -a %s NAME=VALUE`.\n",
			strings.Join(a.LostConfig, ", "), app)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// shellQuote quotes s in single quotes for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var configKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

func checkConfigKey(k string) error {
	if !configKeyRE().MatchString(k) {
		return fmt.Errorf("%q is not a config var name: use letters, digits and _, not starting with a digit", k)
	}
	return nil
}

// updateConfig sends a config change and reports the release it made.
func updateConfig(c *ucli.Context, verb string, vars map[string]*string) error {
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	progress(c, "%s %s and restarting %s... ", verb, strings.Join(keys, ", "), app)
	r, err := cl.UpdateConfig(c.Context, app, vars)
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("changing the config of %s: %w", app, err)
	}
	progress(c, "done, %s\n", versionName(r.Version))
	if wantJSON(c) {
		return printJSON(c, r)
	}
	return nil
}
