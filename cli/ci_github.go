package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/go-github/v74/github"
)

// ghDeployments reports each app a CI run deploys as a GitHub Deployment of
// the commit, with statuses (in_progress, then success or failure) and the
// app's URL as the environment URL.
type ghDeployments struct {
	client      *github.Client
	owner, repo string
	sha, logURL string
}

// newGHDeployments reads the repository, commit and API from the GitHub
// Actions runner's environment.
func newGHDeployments(token string) (*ghDeployments, error) {
	owner, repo, ok := strings.Cut(os.Getenv("GITHUB_REPOSITORY"), "/")
	sha := os.Getenv("GITHUB_SHA")
	if !ok || sha == "" {
		return nil, fmt.Errorf("a GitHub token was given but GITHUB_REPOSITORY (owner/repo) or GITHUB_SHA is not set: run inside GitHub Actions, or set them")
	}
	client := github.NewClient(nil).WithAuthToken(token)
	if api := os.Getenv("GITHUB_API_URL"); api != "" {
		u, err := url.Parse(strings.TrimRight(api, "/") + "/")
		if err != nil {
			return nil, fmt.Errorf("GITHUB_API_URL %q: %w", api, err)
		}
		client.BaseURL = u
	}
	client.Client().Timeout = 30 * time.Second
	g := &ghDeployments{client: client, owner: owner, repo: repo, sha: sha}
	if srv, run := os.Getenv("GITHUB_SERVER_URL"), os.Getenv("GITHUB_RUN_ID"); srv != "" && run != "" {
		g.logURL = fmt.Sprintf("%s/%s/%s/actions/runs/%s", strings.TrimRight(srv, "/"), owner, repo, run)
	}
	return g, nil
}

// ghDeployment is one Deployment; nil when nothing is reported.
type ghDeployment struct {
	g  *ghDeployments
	id int64
}

// start creates a Deployment of the commit to env and marks it in
// progress. Reporting is best effort: a failure is a warning on w.
func (g *ghDeployments) start(ctx context.Context, env, app string, w io.Writer) *ghDeployment {
	if g == nil {
		return nil
	}
	d, _, err := g.client.Repositories.CreateDeployment(ctx, g.owner, g.repo, &github.DeploymentRequest{
		Ref:              github.Ptr(g.sha),
		Task:             github.Ptr("deploy"),
		Environment:      github.Ptr(env),
		Description:      github.Ptr("pier: " + app),
		AutoMerge:        github.Ptr(false),
		RequiredContexts: &[]string{},
	})
	if err != nil {
		fmt.Fprintf(w, "warning: creating the GitHub Deployment of %s: %v\n", env, err)
		return nil
	}
	dep := &ghDeployment{g: g, id: d.GetID()}
	dep.status(ctx, "in_progress", "", "pier is deploying "+app, w)
	return dep
}

// finish sets the Deployment's final status from res.
func (d *ghDeployment) finish(res ciResult, w io.Writer) {
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	state, desc := "success", fmt.Sprintf("%s v%d is live", res.App, res.Release)
	if res.Status != ciSucceeded {
		state, desc = "failure", res.Status+": "+res.Reason
	}
	d.status(ctx, state, res.URL, desc, w)
}

func (d *ghDeployment) status(ctx context.Context, state, envURL, desc string, w io.Writer) {
	if len(desc) > 140 { // GitHub's limit
		desc = desc[:137] + "..."
	}
	req := &github.DeploymentStatusRequest{State: github.Ptr(state), Description: github.Ptr(desc), AutoInactive: github.Ptr(state == "success")}
	if envURL != "" {
		req.EnvironmentURL = github.Ptr(envURL)
	}
	if d.g.logURL != "" {
		req.LogURL = github.Ptr(d.g.logURL)
	}
	if _, _, err := d.g.client.Repositories.CreateDeploymentStatus(ctx, d.g.owner, d.g.repo, d.id, req); err != nil {
		fmt.Fprintf(w, "warning: setting the GitHub Deployment status to %s: %v\n", state, err)
	}
}
