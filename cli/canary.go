package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func canaryCommand() *ucli.Command {
	action := func(name, usage string) *ucli.Command {
		return &ucli.Command{Name: name, Usage: usage, Flags: appFlags(),
			Action: func(c *ucli.Context) error { return runCanaryAction(c, name) }}
	}
	return &ucli.Command{
		Name:  "canary",
		Usage: "release to a growing share of traffic, judged at each step on pier's own metrics",
		Flags: clientFlags(),
		Subcommands: []*ucli.Command{
			{
				Name:      "start",
				Usage:     "start release vN (default: the newest one not live) as a canary",
				ArgsUsage: "[vN]",
				Flags: appFlags(
					&ucli.StringFlag{Name: "steps", Usage: "traffic shares in percent, increasing, ending at 100", Value: "5,25,50,100"},
					&ucli.DurationFlag{Name: "interval", Usage: "how long each step lasts before its check", Value: time.Minute},
				),
				Action: runCanaryStart,
			},
			{Name: "status", Usage: "show the canary's step, share and compared numbers", Flags: appFlags(), Action: runCanaryStatus},
			action("promote", "make the canary live now, whatever its step"),
			action("abort", "send all traffic back to the live release and stop the canary"),
			action("pause", "hold the canary's share; no checks until resumed"),
			action("resume", "go on with a paused canary's checks"),
		},
	}
}

func runCanaryStart(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) > 1 {
		return fmt.Errorf("give at most one release: pier canary start -a APP [vN]")
	}
	req := api.CanaryRequest{Interval: api.Duration(c.Duration("interval"))}
	if len(as) == 1 {
		if req.Release, err = parseVersion(as[0]); err != nil {
			return err
		}
	}
	if req.Steps, err = parseSteps(c.String("steps")); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	progress(c, "Starting a canary of %s... ", app)
	st, err := cl.StartCanary(c.Context, app, req)
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("starting a canary of %s: %w", app, err)
	}
	progress(c, "done\n")
	return printCanary(c, st)
}

// parseSteps reads "5,25,50,100"; the agent checks the shares.
func parseSteps(s string) ([]int, error) {
	var steps []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f), "%")))
		if err != nil {
			return nil, fmt.Errorf("--steps %q: give percentages separated by commas, like 5,25,50,100", s)
		}
		steps = append(steps, n)
	}
	return steps, nil
}

func runCanaryStatus(c *ucli.Context) error {
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	st, err := cl.Canary(c.Context, app)
	if err != nil {
		return fmt.Errorf("reading the canary of %s: %w", app, err)
	}
	return printCanary(c, st)
}

func runCanaryAction(c *ucli.Context, action string) error {
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	st, err := cl.CanaryAction(c.Context, app, action)
	if err != nil {
		return fmt.Errorf("canary %s on %s: %w", action, app, err)
	}
	return printCanary(c, st)
}

func printCanary(c *ucli.Context, st api.CanaryStatus) error {
	if wantJSON(c) {
		return printJSON(c, st)
	}
	w := c.App.Writer
	if st.Message != "" {
		fmt.Fprintln(w, st.Message)
	}
	k := st.Canary
	if k == nil {
		return nil
	}
	if k.State == api.CanarySplit {
		fmt.Fprintf(w, "A/B split of %s: %s gets %d%% of visitors (sticky by cookie), live %s the rest; no analysis\n",
			st.App, versionName(k.Release), k.Weight(), versionName(st.Live))
		return nil
	}
	fmt.Fprintf(w, "Canary %s of %s: %s, step %d of %d at %d%% (steps %s, every %s), live %s\n",
		versionName(k.Release), st.App, k.State, k.Step+1, len(k.Steps), k.Weight(), joinInts(k.Steps), time.Duration(k.Interval), versionName(st.Live))
	fmt.Fprintf(w, "Checks: %d, failed %d (%d in a row)\n", k.Checks, k.Failures, k.FailuresInRow)
	if k.Last != nil {
		printCheck(w, k.Last)
	}
	return nil
}

func printCheck(w io.Writer, ch *api.CanaryCheck) {
	fmt.Fprintf(w, "Last check at %d%%: %s", ch.Weight, ch.Verdict)
	if ch.Reason != "" {
		fmt.Fprintf(w, " (%s)", ch.Reason)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-8s %9s %9s %9s %9s\n", "RELEASE", "REQUESTS", "SUCCESS", "P95", "P99")
	for _, n := range []api.ReleaseNumbers{ch.Canary, ch.Live} {
		fmt.Fprintf(w, "  %-8s %9.0f %8.2f%% %7.0fms %7.0fms\n", n.Release, n.Requests, n.Success, n.P95*1000, n.P99*1000)
	}
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
