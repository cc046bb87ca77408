package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func loginCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "login",
		Usage: "check an API token against an agent and save both for later commands",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "api", Usage: "the agent's API `URL`", EnvVars: []string{"PIER_API"}, Value: defaultAPI},
			&ucli.StringFlag{Name: "token", Usage: "an API token (the agent's admin.token, or one from `pier tokens create`); - reads it from stdin", EnvVars: []string{"PIER_TOKEN"}},
		},
		Action: runLogin,
	}
}

func runLogin(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	apiURL := strings.TrimRight(c.String("api"), "/")
	token := strings.TrimSpace(c.String("token"))
	if token == "-" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading the token from stdin: %w", err)
		}
		token = strings.TrimSpace(line)
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--api %q is not an http(s) URL like %s", apiURL, defaultAPI)
	}
	if token == "" {
		return fmt.Errorf("no token given: use --token TOKEN (the agent wrote its admin token to <data-dir>/admin.token)")
	}
	ctx, cancel := context.WithTimeout(c.Context, 15*time.Second)
	defer cancel()
	v, err := api.NewClient(apiURL, token).Version(ctx)
	if err != nil {
		return fmt.Errorf("checking the token against %s: %w", apiURL, err)
	}
	p, err := writeLoginConfig(loginConfig{API: apiURL, Token: token})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "Logged in to %s (pier %s); saved in %s\n", apiURL, v.Version, p)
	return nil
}

func logoutCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "logout",
		Usage:  "forget the saved API URL and token",
		Action: runLogout,
	}
}

func runLogout(c *ucli.Context) error {
	lc, err := readLoginConfig()
	if err != nil {
		return err
	}
	p, err := loginConfigPath()
	if err != nil {
		return err
	}
	if lc == (loginConfig{}) {
		fmt.Fprintln(c.App.ErrWriter, "Not logged in.")
		return nil
	}
	if err := removeFile(p); err != nil {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "Logged out of %s.\n", lc.API)
	return nil
}
