package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func reviewAppsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "review-apps",
		Usage: "short-lived apps of a pipeline for pull requests and branches",
		Flags: clientFlags(),
		Subcommands: []*ucli.Command{
			reviewAppsCreateCommand(),
			reviewAppsDestroyCommand(),
		},
	}
}

// reviewFlags name a review app: its pipeline, branch and pull request.
func reviewFlags(extra ...ucli.Flag) []ucli.Flag {
	return clientFlags(append([]ucli.Flag{
		&ucli.StringFlag{Name: "pipeline", Usage: "the `PIPELINE` (required)"},
		&ucli.StringFlag{Name: "branch", Usage: "the git `BRANCH`"},
		&ucli.IntFlag{Name: "pr", Usage: "the pull request `N`: the app is PIPELINE-pr-N"},
	}, extra...)...)
}

// reviewAppOf is the review app the flags name.
func reviewAppOf(c *ucli.Context) (pipeline, app string, err error) {
	pipeline = c.String("pipeline")
	if pipeline == "" {
		return "", "", fmt.Errorf("give the pipeline: --pipeline NAME")
	}
	if c.Int("pr") <= 0 && c.String("branch") == "" {
		return "", "", fmt.Errorf("give the pull request (--pr N) or the branch (--branch BR)")
	}
	return pipeline, api.ReviewAppName(pipeline, c.Int("pr"), c.String("branch")), nil
}

func reviewAppsDestroyCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "destroy",
		Usage:  "destroy the review app of a pull request or branch",
		Flags:  reviewFlags(),
		Action: runReviewAppsDestroy,
	}
}

func runReviewAppsDestroy(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	pipeline, app, err := reviewAppOf(c)
	if err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	p, err := cl.Pipeline(c.Context, pipeline)
	if err != nil {
		return err
	}
	if st := p.StageOf(app); st != api.StageReview {
		return fmt.Errorf("%s is no review app of pipeline %s: nothing was destroyed (see `pier pipelines info %s`)", app, pipeline, pipeline)
	}
	progress(c, "Destroying review app %s... ", app)
	if err := cl.DestroyApp(c.Context, app); err != nil {
		progress(c, "failed\n")
		return err
	}
	progress(c, "done\n")
	return nil
}
