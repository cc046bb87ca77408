package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func dashboardCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "dashboard",
		Usage:  "print a one-time login link to the web dashboard (good for 2 minutes)",
		Flags:  clientFlags(),
		Action: runDashboard,
	}
}

// dashboardLink is the --json document of `pier dashboard`.
type dashboardLink struct {
	URL       string `json:"url"`
	ExpiresIn int    `json:"expires_in"`
}

func runDashboard(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	l, err := cl.DashboardLink(c.Context)
	if err != nil {
		return fmt.Errorf("asking for a dashboard login link: %w", err)
	}
	out := dashboardLink{URL: cl.BaseURL + l.Path, ExpiresIn: l.ExpiresIn}
	if wantJSON(c) {
		return printJSON(c, out)
	}
	progress(c, "Open this link within %d seconds; it signs in once:\n", l.ExpiresIn)
	_, err = fmt.Fprintln(c.App.Writer, out.URL)
	return err
}
