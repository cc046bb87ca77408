package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func usageCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "usage",
		Usage:  "show an app's usage per day: requests, unique visitors (an estimate; no address is kept), bandwidth, top status codes",
		Flags:  appFlags(&ucli.IntFlag{Name: "days", Value: 7, Usage: "how many days, newest first (up to 90)"}),
		Action: runUsage,
	}
}

func runUsage(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	days := c.Int("days")
	if days < 1 || days > 90 {
		return fmt.Errorf("--days %d: give a number of days from 1 to 90", days)
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	u, err := cl.Usage(c.Context, app, days)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, u)
	}
	return writeUsage(c.App.Writer, c.App.ErrWriter, u)
}

// writeUsage prints u as a table, and what visitors are on errw.
func writeUsage(w, errw io.Writer, u api.AppUsage) error {
	t := newTable(w, "DAY", "REQUESTS", "VISITORS", "BANDWIDTH", "TOP STATUSES")
	for _, d := range u.Days {
		t.row(d.Day, strconv.FormatUint(d.Requests, 10), "~"+strconv.FormatUint(d.Visitors, 10), sizeOf(d.Bytes), topStatuses(d.Statuses))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(u.Days) == 0 {
		fmt.Fprintf(errw, "No requests to %s yet.\n", u.App)
	}
	fmt.Fprintln(errw, "Days are UTC. Visitors are estimated from salted hashes of client addresses; the salt changes daily and is never stored.")
	return nil
}

// topStatuses writes "200×1520 404×12".
func topStatuses(s []api.StatusCount) string {
	parts := make([]string, 0, len(s))
	for _, c := range s {
		parts = append(parts, strconv.Itoa(c.Code)+"×"+strconv.FormatUint(c.Count, 10))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// sizeOf writes n bytes for people: 1.5 MiB.
func sizeOf(n uint64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if f < 1024 || u == "GiB" {
			if u == "B" {
				return strconv.FormatUint(n, 10) + " B"
			}
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
		f /= 1024
	}
	return ""
}
