package cli

import (
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// interspersed moves the flags a command's line carries after its first
// argument to before it, so that `pier tokens create ci --role deploy` reads
// as `pier tokens create --role deploy ci`, as Heroku's CLI (and DESIGN's
// command table) allow; urfave/cli stops reading flags at the first
// argument. Only the command's own flags move, with their values; what
// follows "--" (the command of `pier run`) stays as it is.
func interspersed(app *ucli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	leaf, i := commandOf(app, args)
	if leaf == nil {
		return args
	}
	takesValue, canonical, many := map[string]bool{}, map[string]string{}, map[string]bool{}
	for _, f := range leaf.Flags {
		_, isBool := f.(*ucli.BoolFlag)
		_, isSlice := f.(*ucli.StringSliceFlag)
		for _, n := range f.Names() {
			takesValue[n], canonical[n] = !isBool, f.Names()[0]
		}
		many[f.Names()[0]] = isSlice
	}
	given := map[string]bool{}
	rest := args[i:]
	end := len(rest)
	for j, a := range rest {
		if a == "--" {
			end = j
			break
		}
	}
	var flags, positional []string
	for j := 0; j < end; j++ {
		a := rest[j]
		name, inline := flagName(a)
		value, known := takesValue[name]
		// A flag given twice stays where it is, to be refused as
		// ambiguous (which -a is meant?) rather than one of them win.
		if !known || given[canonical[name]] && !many[canonical[name]] {
			positional = append(positional, a)
			continue
		}
		given[canonical[name]] = true
		flags = append(flags, a)
		if value && !inline && j+1 < end {
			j++
			flags = append(flags, rest[j])
		}
	}
	out := append(append([]string{}, args[:i]...), flags...)
	out = append(out, positional...)
	return append(out, rest[end:]...)
}

// commandOf finds the command args name (past the program and global
// flags) and the index of what follows its name.
func commandOf(app *ucli.App, args []string) (*ucli.Command, int) {
	cmds := app.Commands
	var leaf *ucli.Command
	i := 1
	for i < len(args) {
		a := args[i]
		if strings.HasPrefix(a, "-") && leaf == nil {
			i++ // a global flag (--json) before the command
			continue
		}
		var next *ucli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				next = c
			}
		}
		if next == nil {
			break
		}
		leaf, cmds, i = next, next.Subcommands, i+1
	}
	return leaf, i
}

// flagName is the name of a flag argument ("--role=x" -> "role", true), or
// "" for an argument that is no flag.
func flagName(a string) (string, bool) {
	if len(a) < 2 || a[0] != '-' || a == "--" {
		return "", false
	}
	name := strings.TrimLeft(a, "-")
	name, _, inline := strings.Cut(name, "=")
	return name, inline
}
