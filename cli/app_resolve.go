package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

// appFlag is -a/--app, on every command that works on one app. Flags are
// made fresh for each run: urfave/cli keeps environment values in them.
func appFlag() *ucli.StringFlag {
	return &ucli.StringFlag{
		Name:    "app",
		Aliases: []string{"a"},
		Usage:   "the app (default: from the `deploy` git remote of the current checkout)",
		EnvVars: []string{"PIER_APP"},
	}
}

var errNoApp = errors.New("no app given: use -a APP or run inside a checkout with a `deploy` git remote")

// appName resolves the app of a command: -a/--app (or PIER_APP) on the
// command or a parent, else the `deploy` git remote of the current checkout.
func appName(c *ucli.Context) (string, error) {
	if a := lineageString(c, "app"); a != "" {
		return a, nil
	}
	remote, err := deployRemote(c.Context)
	if err != nil {
		return "", err
	}
	if remote == "" {
		return "", errNoApp
	}
	app, err := appFromRemote(remote)
	if err != nil {
		return "", fmt.Errorf("reading the app from the `deploy` git remote: %w; use -a APP", err)
	}
	return app, nil
}

// lineageString is the first non-empty value of a string flag on the
// command or one of its parents.
func lineageString(c *ucli.Context, name string) string {
	for _, x := range c.Lineage() {
		if x.Command == nil && x.App == nil {
			continue
		}
		if v := x.String(name); v != "" {
			return v
		}
	}
	return ""
}

// deployRemote is the URL of the git remote named deploy in the current
// directory, or "" when there is no such remote (or no git, or no checkout).
func deployRemote(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "remote", "get-url", "deploy").Output()
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("asking git for the `deploy` remote: %w", ctx.Err())
		}
		return "", nil
	}
	return strings.TrimSpace(string(out)), nil
}

var (
	appNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })
	scpLikeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:[^@/]+@)?[^:/]+:(.+)$`) })
)

// appFromRemote reads the app name from a pier git remote URL:
// http(s)://[user[:pass]@]host[:port]/git/APP.git,
// ssh://git@host:2222/APP.git or git@host:APP.git.
func appFromRemote(remote string) (string, error) {
	var p string
	if strings.Contains(remote, "://") {
		u, err := url.Parse(remote)
		if err != nil {
			return "", fmt.Errorf("bad remote URL: %w", err)
		}
		p = u.Path
	} else if m := scpLikeRE().FindStringSubmatch(remote); m != nil {
		p = m[1]
	} else {
		return "", fmt.Errorf("%q is not a pier git remote", redactRemote(remote))
	}
	name := strings.TrimSuffix(path.Base(strings.TrimRight(p, "/")), ".git")
	if !appNameRE().MatchString(name) {
		return "", fmt.Errorf("%q does not end in /APP.git", redactRemote(remote))
	}
	return name, nil
}

// redactRemote hides a password (an API token) in a remote URL.
func redactRemote(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil {
		return remote
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// appClient resolves the app of a command and the client of its agent.
func appClient(c *ucli.Context) (*api.Client, string, error) {
	app, err := appName(c)
	if err != nil {
		return nil, "", err
	}
	cl, err := newClient()
	if err != nil {
		return nil, "", err
	}
	return cl, app, nil
}
