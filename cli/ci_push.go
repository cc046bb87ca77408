package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// gitPushApp pushes ref of the checkout in the current directory to app's
// main branch over HTTPS. The token goes in a header through git's
// environment (GIT_CONFIG_*), never in the URL, the command line or a file,
// so that neither git's messages nor ps show it.
func gitPushApp(ctx context.Context, c *ucli.Context, app, ref string, force bool) error {
	apiURL, token, err := clientSettings()
	if err != nil {
		return err
	}
	remote := strings.TrimRight(apiURL, "/") + "/git/" + url.PathEscape(app) + ".git"
	args := []string{"push", remote, ref + ":refs/heads/main"}
	if force {
		args = append(args, "--force")
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), gitAuthEnv(os.Getenv("GIT_CONFIG_COUNT"), token)...)
	cmd.Stdout, cmd.Stderr = c.App.ErrWriter, c.App.ErrWriter
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("git push stopped: %w", ctx.Err())
		}
		return fmt.Errorf("git push failed (%v): see its output above", err)
	}
	return nil
}

// gitAuthEnv adds an Authorization header to git's config through its
// environment, after the count entries already there.
func gitAuthEnv(count, token string) []string {
	n, _ := strconv.Atoi(count)
	auth := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("pier:"+token))
	return []string{
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_COUNT=" + strconv.Itoa(n+1),
		fmt.Sprintf("GIT_CONFIG_KEY_%d=http.extraHeader", n),
		fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", n, auth),
	}
}
