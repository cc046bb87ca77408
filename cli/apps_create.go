package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func appsCreateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "create",
		Usage:     "create an app",
		ArgsUsage: "NAME",
		Flags:     clientFlags(),
		Action:    runAppsCreate,
	}
}

func runAppsCreate(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return fmt.Errorf("give one app name: pier apps create NAME")
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	app, err := cl.CreateApp(c.Context, as[0])
	if err != nil {
		return fmt.Errorf("creating app %s: %w", as[0], err)
	}
	if wantJSON(c) {
		return printJSON(c, app)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "Created %s\n", app.Name)
	fmt.Fprintf(w, "Git remote: %s\n", app.GitURL)
	if app.SSHURL != "" {
		fmt.Fprintf(w, "SSH remote: %s\n", app.SSHURL)
	}
	fmt.Fprintf(w, "Web URL:    %s\n", app.WebURL)
	fmt.Fprintf(c.App.ErrWriter, "\nNext: git remote add deploy %s && git push deploy main\n", app.GitURL)
	return nil
}
