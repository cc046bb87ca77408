package cli

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func scaleCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "scale",
		Usage:     "set how many instances of each process type run",
		ArgsUsage: "TYPE=N[:MEMORY] ...",
		Flags:     appFlags(),
		Action:    runScale,
	}
}

func runScale(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) == 0 {
		return fmt.Errorf("say what to scale: pier scale -a APP web=2 worker=1")
	}
	f, mem, err := parseFormation(as)
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	req := api.ScaleRequest{Formation: f}
	for _, m := range mem {
		typ, size, _ := strings.Cut(m, "=")
		if req.Memory == nil {
			req.Memory = map[string]int{}
		}
		if req.Memory[typ], err = memoryMB(size); err != nil {
			return err
		}
	}
	progress(c, "Scaling %s to %s... ", app, formationString(f, req.Memory))
	a, err := cl.ScaleTo(c.Context, app, req)
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("scaling %s: %w", app, err)
	}
	progress(c, "done\n")
	if wantJSON(c) {
		return printJSON(c, a)
	}
	fmt.Fprintln(c.App.Writer, formationString(a.Formation, a.MemoryMB))
	return nil
}

var (
	processTypeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`) })
	memoryRE      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+[KMGkmg]?[Bb]?$`) })
)

// memoryMB turns a size like 512M, 1G or 262144K into MiB (a bare number
// is MiB).
func memoryMB(size string) (int, error) {
	s := strings.TrimRight(strings.ToUpper(size), "B")
	mult, div := 1, 1
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1024, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		s = strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		div, s = 1024, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("memory %q must be a size like 512M or 1G", size)
	}
	mb := (n*mult + div - 1) / div
	if mb > 1<<20 {
		return 0, fmt.Errorf("memory %q is more than 1 TiB", size)
	}
	return mb, nil
}

// parseFormation reads "web=3", "worker=1" and "web=2:512M" arguments. It
// returns the counts and the memory sizes given (as "web=512M").
func parseFormation(as []string) (map[string]int, []string, error) {
	f := map[string]int{}
	var mem []string
	for _, a := range as {
		typ, val, ok := strings.Cut(a, "=")
		if !ok || !processTypeRE().MatchString(typ) {
			return nil, nil, fmt.Errorf("%q is not TYPE=N: write it like web=2", a)
		}
		count, size, hasSize := strings.Cut(val, ":")
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("%q: the count must be a whole number, 0 or more (like %s=2)", a, typ)
		}
		if hasSize {
			if !memoryRE().MatchString(size) {
				return nil, nil, fmt.Errorf("%q: memory must be a size like 512M or 1G", a)
			}
			mem = append(mem, typ+"="+size)
		}
		if _, dup := f[typ]; dup {
			return nil, nil, fmt.Errorf("%s is given twice", typ)
		}
		f[typ] = n
	}
	return f, mem, nil
}
