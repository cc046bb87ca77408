package cli

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func auditCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "audit",
		Usage: "changes made through the API, git and SSH: who, what, how it ended, from where (admin only)",
		Flags: clientFlags(
			&ucli.StringFlag{Name: "app", Aliases: []string{"a"}, Usage: "only the changes of this app"},
			&ucli.StringFlag{Name: "since", Usage: "only changes after this: a duration back from now (1h, 7d) or a time (RFC 3339)"},
			&ucli.IntFlag{Name: "num", Aliases: []string{"n"}, Usage: "only the last N entries (default: all kept)"},
		),
		Action: runAudit,
	}
}

func runAudit(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	var since time.Time
	if s := c.String("since"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			since = t
		} else if d, err := api.ParseDuration(s); err == nil && d > 0 {
			since = now().Add(-d)
		} else {
			return fmt.Errorf("--since %s: give a duration such as 1h or 7d, or a time such as 2025-01-02T15:04:05Z", s)
		}
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	es, err := cl.Audit(c.Context, c.String("app"), since, c.Int("num"))
	if err != nil {
		return err
	}
	if es == nil {
		es = []api.AuditEntry{}
	}
	if wantJSON(c) {
		return printJSON(c, es)
	}
	// DETAIL, what the agent says of what it did by itself (a scheduled
	// backup), shows when an entry has one.
	detail := slices.ContainsFunc(es, func(e api.AuditEntry) bool { return e.Detail != "" })
	header := []string{"TIME", "WHO", "ROLE", "ACTION", "APP", "TARGET", "STATUS", "FROM"}
	if detail {
		header = append(header, "DETAIL")
	}
	t := newTable(c.App.Writer, header...)
	for _, e := range es {
		cells := []string{e.Time.Local().Format("2006-01-02 15:04:05"), e.Via + ":" + e.Who, e.Role, e.Action, e.App, e.Target, strconv.Itoa(e.Status), e.ClientIP}
		if detail {
			cells = append(cells, e.Detail)
		}
		t.row(cells...)
	}
	return t.flush()
}
