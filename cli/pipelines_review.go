package cli

import (
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func pipelinesReviewCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "review",
		Usage:     "set how the pipeline makes review apps: the app whose config they copy, the vars not to copy, an idle limit",
		ArgsUsage: "PIPELINE",
		Flags: clientFlags(
			&ucli.StringFlag{Name: "template", Usage: "copy config from `APP` (an app of the pipeline, e.g. its staging app)"},
			&ucli.StringFlag{Name: "no-copy", Usage: "config vars not to copy, comma-separated `KEYS` (secrets of production services)"},
			&ucli.DurationFlag{Name: "expire-idle", Usage: "destroy a review app not deployed for `D` (e.g. 72h); 0 keeps them"},
		),
		Action: runPipelinesReview,
	}
}

func runPipelinesReview(c *ucli.Context) error {
	name, err := pipelineArg(c, "pier pipelines review --template APP [--no-copy K,...] [--expire-idle D] PIPELINE")
	if err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	rc := api.ReviewConfig{Template: c.String("template"), ExpireIdle: api.Duration(c.Duration("expire-idle"))}
	for _, k := range strings.Split(c.String("no-copy"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			rc.NoCopy = append(rc.NoCopy, k)
		}
	}
	p, err := cl.SetReviewConfig(c.Context, name, rc)
	if err != nil {
		return err
	}
	if rc.ExpireIdle > 0 {
		progress(c, "Review apps of %s not deployed for %s are destroyed\n", name, time.Duration(rc.ExpireIdle))
	}
	return printPipeline(c, p)
}
