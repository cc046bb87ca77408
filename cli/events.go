package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func eventsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "events",
		Usage: "what the platform did to an app: builds, deploys, rollbacks, crashes, config changes...; -f follows them",
		Description: "Each event has an id (in order, per app), a type from the list in docs/notifications.md, a message and data.\n" +
			"--json prints the events as a JSON array; with -f, one JSON object per line as they happen.",
		Flags: appFlags(
			&ucli.IntFlag{Name: "num", Aliases: []string{"n"}, Value: 50, Usage: "how many past events (0: all kept)"},
			&ucli.BoolFlag{Name: "tail", Aliases: []string{"f"}, Usage: "keep printing new events until Ctrl-C"},
			&ucli.BoolFlag{Name: "platform", Usage: "the platform's own events (agent started, upgraded, backups) instead of an app's"},
		),
		Action: runEvents,
	}
}

func runEvents(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	if c.Int("num") < 0 {
		return fmt.Errorf("-n must be 0 or more")
	}
	var cl *api.Client
	var app string
	var err error
	if c.Bool("platform") {
		cl, err = newClient()
	} else {
		cl, app, err = appClient(c)
	}
	if err != nil {
		return err
	}
	es, err := cl.Events(c.Context, app, api.EventQuery{Limit: c.Int("num")})
	if err != nil {
		return err
	}
	if !c.Bool("tail") {
		if wantJSON(c) {
			return printJSON(c, es)
		}
		return printEvents(c.App.Writer, es, true)
	}
	out := func(es []api.Event, header bool) error {
		if wantJSON(c) {
			enc := json.NewEncoder(c.App.Writer)
			for _, e := range es {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			return nil
		}
		return printEvents(c.App.Writer, es, header)
	}
	if err := out(es, true); err != nil {
		return err
	}
	var last uint64
	if len(es) > 0 {
		last = es[len(es)-1].ID
	}
	for {
		es, err := cl.Events(c.Context, app, api.EventQuery{After: last, Wait: 25 * time.Second})
		if c.Context.Err() != nil {
			return nil // Ctrl-C
		}
		if err != nil {
			return fmt.Errorf("following the events: %w", err)
		}
		if err := out(es, false); err != nil {
			return err
		}
		if len(es) > 0 {
			last = es[len(es)-1].ID
		}
	}
}

// printEvents writes events as lines: time, id, type, message, who, and
// the data as k=v.
func printEvents(w io.Writer, es []api.Event, header bool) error {
	t := newTable(w)
	if header {
		t.row("TIME", "ID", "TYPE", "MESSAGE", "BY", "DATA")
	}
	for _, e := range es {
		keys := make([]string, 0, len(e.Data))
		for k := range e.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		kv := make([]string, 0, len(keys))
		for _, k := range keys {
			if k == "reason" || k == "description" { // in the message already
				continue
			}
			kv = append(kv, k+"="+e.Data[k])
		}
		t.row(e.Time.Local().Format("2006-01-02 15:04:05"), fmt.Sprint(e.ID), e.Type, e.Message, e.Actor, strings.Join(kv, " "))
	}
	return t.flush()
}
