package api

import (
	"context"
	"net/http"
	"net/url"
)

// Pipelines and promotion.

func pipelinePath(name string, rest ...string) string {
	p := "/v1/pipelines/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// ListPipelines returns every pipeline with what its apps run.
func (c *Client) ListPipelines(ctx context.Context) ([]Pipeline, error) {
	var ps []Pipeline
	err := c.do(ctx, http.MethodGet, "/v1/pipelines", nil, &ps)
	return ps, err
}

// CreatePipeline makes an empty pipeline.
func (c *Client) CreatePipeline(ctx context.Context, name string) (Pipeline, error) {
	var p Pipeline
	err := c.do(ctx, http.MethodPost, "/v1/pipelines", CreatePipelineRequest{Name: name}, &p)
	return p, err
}

// Pipeline returns one pipeline with what its apps run.
func (c *Client) Pipeline(ctx context.Context, name string) (Pipeline, error) {
	var p Pipeline
	err := c.do(ctx, http.MethodGet, pipelinePath(name), nil, &p)
	return p, err
}

// DestroyPipeline removes a pipeline; its apps stay.
func (c *Client) DestroyPipeline(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, pipelinePath(name), nil, nil)
}

// AddToPipeline puts app at stage of the pipeline.
func (c *Client) AddToPipeline(ctx context.Context, pipeline, app, stage string) (Pipeline, error) {
	var p Pipeline
	err := c.do(ctx, http.MethodPost, pipelinePath(pipeline, "apps"), PipelineAppRequest{App: app, Stage: stage}, &p)
	return p, err
}

// RemoveFromPipeline takes app out of its pipeline.
func (c *Client) RemoveFromPipeline(ctx context.Context, app string) (Pipeline, error) {
	var p Pipeline
	err := c.do(ctx, http.MethodDelete, appPath(app, "pipeline"), nil, &p)
	return p, err
}

// Promote deploys app's live release, unbuilt, downstream.
func (c *Client) Promote(ctx context.Context, app string, req PromoteRequest) (Promotion, error) {
	var p Promotion
	err := c.do(ctx, http.MethodPost, appPath(app, "promote"), req, &p)
	return p, err
}

// SetReviewConfig sets how a pipeline makes review apps.
func (c *Client) SetReviewConfig(ctx context.Context, pipeline string, rc ReviewConfig) (Pipeline, error) {
	var p Pipeline
	err := c.do(ctx, http.MethodPatch, pipelinePath(pipeline, "review"), rc, &p)
	return p, err
}

// CreateReviewApp makes the review app of a pull request or branch, with
// its config; the branch is pushed to it next.
func (c *Client) CreateReviewApp(ctx context.Context, pipeline string, req ReviewAppRequest) (App, error) {
	var a App
	err := c.do(ctx, http.MethodPost, pipelinePath(pipeline, "review-apps"), req, &a)
	return a, err
}
