package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func reviewAppsCreateCommand() *ucli.Command {
	return &ucli.Command{
		Name: "create",
		Usage: "make the review app of a pull request or branch: config from the pipeline's template and app.json's environments.review, " +
			"the branch deployed from this checkout, scripts.postdeploy run once; prints its URL",
		Flags:  reviewFlags(),
		Action: runReviewAppsCreate,
	}
}

func runReviewAppsCreate(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	pipeline, name, err := reviewAppOf(c)
	if err != nil {
		return err
	}
	branch := c.String("branch")
	if branch == "" {
		return fmt.Errorf("give the branch to deploy: --branch BR")
	}
	env, postdeploy, err := reviewAppJSON(c.Context, branch)
	if err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	progress(c, "Creating review app %s of %s... ", name, pipeline)
	app, err := cl.CreateReviewApp(c.Context, pipeline, api.ReviewAppRequest{PR: c.Int("pr"), Branch: branch, Env: env})
	if err != nil {
		progress(c, "failed\n")
		return err
	}
	progress(c, "done\n-----> Deploying %s\n", branch)
	// From here a failure takes the app away again: no review app is left
	// half-made.
	undo := func(err error) error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), time.Minute)
		defer cancel()
		if derr := cl.DestroyApp(ctx, name); derr != nil {
			return fmt.Errorf("%w; removing review app %s failed too (%v): remove it with `pier apps destroy -a %s --confirm %s`", err, name, derr, name, name)
		}
		return fmt.Errorf("%w; review app %s was removed", err, name)
	}
	if err := gitPushApp(c.Context, c, name, branch, false); err != nil {
		return undo(fmt.Errorf("deploying %s to %s: %w", branch, name, err))
	}
	if postdeploy != "" {
		progress(c, "-----> Running postdeploy: %s\n", postdeploy)
		code, err := cl.Run(c.Context, name, postdeploy, c.App.ErrWriter)
		if err == nil && code != 0 {
			err = fmt.Errorf("exited with status %d", code)
		}
		if err != nil {
			return undo(fmt.Errorf("the postdeploy script %q failed: %w", postdeploy, err))
		}
	}
	if wantJSON(c) {
		return printJSON(c, app)
	}
	fmt.Fprintln(c.App.Writer, app.WebURL)
	return nil
}

// reviewAppJSON reads app.json of branch in the checkout: the config its
// environments.review sets, and the postdeploy script (environments.review
// overrides the top level's), as Heroku's review apps do.
func reviewAppJSON(ctx context.Context, branch string) (env map[string]string, postdeploy string, err error) {
	out, err := exec.CommandContext(ctx, "git", "show", branch+":app.json").Output()
	if err != nil {
		if bytes.Contains(exitStderr(err), []byte("exists on disk, but not in")) || bytes.Contains(exitStderr(err), []byte("does not exist in")) {
			return nil, "", nil // no app.json on the branch
		}
		return nil, "", fmt.Errorf("reading app.json of %s from the checkout here (is %s a branch of it?): %w %s", branch, branch, err, bytes.TrimSpace(exitStderr(err)))
	}
	var aj struct {
		Scripts struct {
			Postdeploy string `json:"postdeploy"`
		} `json:"scripts"`
		Environments struct {
			Review struct {
				Env     map[string]json.RawMessage `json:"env"`
				Scripts struct {
					Postdeploy string `json:"postdeploy"`
				} `json:"scripts"`
			} `json:"review"`
		} `json:"environments"`
	}
	if err := json.Unmarshal(out, &aj); err != nil {
		return nil, "", fmt.Errorf("app.json of %s: %w", branch, err)
	}
	env = map[string]string{}
	for k, raw := range aj.Environments.Review.Env {
		var v struct {
			Value string `json:"value"`
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			env[k] = s
		} else if json.Unmarshal(raw, &v) == nil {
			env[k] = v.Value
		}
	}
	postdeploy = aj.Scripts.Postdeploy
	if aj.Environments.Review.Scripts.Postdeploy != "" {
		postdeploy = aj.Environments.Review.Scripts.Postdeploy
	}
	return env, postdeploy, nil
}

func exitStderr(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}
