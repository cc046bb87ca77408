package api

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Pipeline stages, in the order a release travels through them.
const (
	StageReview      = "review"
	StageDevelopment = "development"
	StageStaging     = "staging"
	StageProduction  = "production"
)

// Stages are the stages of a pipeline, upstream first.
var Stages = []string{StageReview, StageDevelopment, StageStaging, StageProduction}

// StageIndex is the position of stage in Stages, or -1.
func StageIndex(stage string) int { return slices.Index(Stages, stage) }

// Pipeline groups apps that run the same code at different stages: a
// release promoted from one stage runs unbuilt, with each app's own config,
// in the next.
type Pipeline struct {
	Name      string        `json:"name"`
	CreatedAt time.Time     `json:"created_at"`
	Apps      []PipelineApp `json:"apps"` // ordered by stage, then name
	Review    ReviewConfig  `json:"review"`
}

// PipelineApp is an app at a stage of a pipeline.
type PipelineApp struct {
	App   string `json:"app"`
	Stage string `json:"stage"`
	// Filled in by the agent when it answers; never stored.
	LiveRelease int    `json:"live_release,omitempty"`
	Commit      string `json:"commit,omitempty"`
	WebURL      string `json:"web_url,omitempty"`
}

// StageOf returns the stage of app in p, or "".
func (p Pipeline) StageOf(app string) string {
	for _, a := range p.Apps {
		if a.App == app {
			return a.Stage
		}
	}
	return ""
}

// AppsAt returns the apps of p at stage, sorted by name.
func (p Pipeline) AppsAt(stage string) []string {
	var out []string
	for _, a := range p.Apps {
		if a.Stage == stage {
			out = append(out, a.App)
		}
	}
	slices.Sort(out)
	return out
}

// ReviewConfig is how a pipeline makes review apps: the app whose config
// they start from, the config vars not to copy (secrets of production
// services), and how long one may stay idle (0: until destroyed).
type ReviewConfig struct {
	Template   string   `json:"template,omitempty"`
	NoCopy     []string `json:"no_copy,omitempty"`
	ExpireIdle Duration `json:"expire_idle,omitempty"`
}

// CreatePipelineRequest makes a pipeline.
type CreatePipelineRequest struct {
	Name string `json:"name"`
}

// PipelineAppRequest adds App to a pipeline at Stage.
type PipelineAppRequest struct {
	App   string `json:"app"`
	Stage string `json:"stage"`
}

// PromoteRequest promotes the live release of the path's app to To (empty:
// the apps of the next stage of its pipeline that has any). Release, when
// set, is the version the caller means: the promotion is refused unless
// it is still the live one.
type PromoteRequest struct {
	To      []string `json:"to,omitempty"`
	Release int      `json:"release,omitempty"`
}

// Promotion is the answer of a promotion: the release each target got, or
// why it did not.
type Promotion struct {
	From    string            `json:"from"`
	Release int               `json:"release"` // the upstream's live version promoted
	Commit  string            `json:"commit,omitempty"`
	SlugID  string            `json:"slug_id,omitempty"`
	Targets []PromotionTarget `json:"targets"`
}

// PromotionTarget is one downstream app of a promotion.
type PromotionTarget struct {
	App     string  `json:"app"`
	Release Release `json:"release,omitzero"` // the new release, when one was made
	Error   string  `json:"error,omitempty"`  // why it did not go live
}

// ReviewAppRequest makes a review app of a pipeline for a pull request
// (PR) or, without one, for a branch. Env is set on top of the config
// copied from the pipeline's template (app.json's environments.review).
type ReviewAppRequest struct {
	PR     int               `json:"pr,omitempty"`
	Branch string            `json:"branch"`
	Env    map[string]string `json:"env,omitempty"`
}

// ReviewAppName is the name of pipeline's review app for pull request pr,
// or, when pr is 0, for branch: PIPELINE-pr-N, or PIPELINE-BRANCH in
// lower-case letters, digits and dashes, at most 30 characters.
func ReviewAppName(pipeline string, pr int, branch string) string {
	if pr > 0 {
		return fmt.Sprintf("%s-pr-%d", pipeline, pr)
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(branch) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := pipeline + "-" + strings.Trim(b.String(), "-")
	if len(name) > 30 {
		name = name[:30]
	}
	return strings.TrimRight(name, "-")
}
