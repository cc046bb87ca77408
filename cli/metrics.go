package cli

import (
	"fmt"
	"io"
	"strconv"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func metricsCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "metrics",
		Usage:  "show an app's traffic of the last minutes per release: rate, 5xx errors, p50 and p95 latency",
		Flags:  appFlags(),
		Action: runMetrics,
	}
}

func runMetrics(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	m, err := cl.Metrics(c.Context, app)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, m)
	}
	return writeMetrics(c.App.Writer, c.App.ErrWriter, m)
}

// writeMetrics prints m as a table, and its window on errw.
func writeMetrics(w, errw io.Writer, m api.AppMetrics) error {
	t := newTable(w, "RELEASE", "REQ/S", "ERRORS", "P50", "P95", "REQUESTS")
	for _, r := range m.Releases {
		name := r.Release
		if name == "" {
			name = "(refused)" // answered by the proxy before an instance was chosen
		}
		errs := "-"
		if r.Requests > 0 {
			errs = strconv.FormatFloat(100*r.Errors/r.Requests, 'f', 1, 64) + "%"
		}
		t.row(name, strconv.FormatFloat(r.Rate, 'f', 2, 64), errs, latency(r.P50, r.Requests), latency(r.P95, r.Requests), strconv.FormatFloat(r.Requests, 'f', 0, 64))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(errw, "The last %s, from the agent's own counters; Prometheus keeps more (docs/observability.md).\n",
		shortDuration(time.Duration(m.Window*float64(time.Second))))
	return nil
}

// latency formats seconds for the table: "-" without requests.
func latency(s, requests float64) string {
	if requests == 0 {
		return "-"
	}
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return strconv.FormatFloat(s, 'f', 2, 64) + "s"
}
