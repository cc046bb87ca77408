package cli

import (
	"sort"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func certsCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "certs",
		Usage:  "show the TLS certificate of each of an app's hosts",
		Flags:  appFlags(),
		Action: runCerts,
	}
}

func runCerts(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	cs, err := cl.Certs(c.Context, app)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []api.Cert{}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Host < cs[j].Host })
	if wantJSON(c) {
		return printJSON(c, cs)
	}
	t := newTable(c.App.Writer, "HOST", "STATUS", "CHALLENGE", "ISSUER", "EXPIRES", "LAST ERROR", "NEXT RETRY")
	for _, ct := range cs {
		challenge := ct.Challenge
		if ct.Wildcard != "" {
			challenge += " " + ct.Wildcard // the wildcard's certificate serves it
		}
		t.row(ct.Host, ct.Status, challenge, ct.Issuer, day(ct.NotAfter), ct.LastError, clock(ct.NextRetry))
	}
	return t.flush()
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02")
}

func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}
