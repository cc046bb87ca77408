package store

import (
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// CreatePipeline adds an empty pipeline; ErrPipelineExists if the name is
// taken. A pipeline is named as an app is, since its review apps are named
// NAME-pr-N.
func (s *Store) CreatePipeline(p api.Pipeline) error {
	if err := ValidAppName(p.Name); err != nil {
		return invalid("invalid pipeline name %q: use lower-case letters, digits and dashes, start with a letter", p.Name)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	p.Apps = nil
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPipelines).Get([]byte(p.Name)) != nil {
			return detail(ErrPipelineExists, "a pipeline named %q already exists", p.Name)
		}
		return putJSON(tx.Bucket(bucketPipelines), []byte(p.Name), p)
	})
}

// GetPipeline returns one pipeline; ErrPipelineNotFound if there is none.
func (s *Store) GetPipeline(name string) (api.Pipeline, error) {
	var p api.Pipeline
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		p, err = getPipeline(tx, name)
		return err
	})
	return p, err
}

// ListPipelines returns every pipeline, sorted by name.
func (s *Store) ListPipelines() ([]api.Pipeline, error) {
	out := []api.Pipeline{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPipelines).ForEach(func(k, _ []byte) error {
			p, err := getPipeline(tx, string(k))
			out = append(out, p)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing pipelines: %w", err)
	}
	return out, nil
}

// PipelineOf returns the pipeline app is in; ok is false when it is in none.
func (s *Store) PipelineOf(app string) (p api.Pipeline, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		name := tx.Bucket(bucketPipelineApps).Get([]byte(app))
		if name == nil {
			return nil
		}
		ok = true
		p, err = getPipeline(tx, string(name))
		return err
	})
	return p, ok, err
}

// AddToPipeline puts app at stage of the pipeline. An app is in at most one
// pipeline, once: one already in a pipeline (this one too) is refused, so
// that promotions cannot run in a circle.
func (s *Store) AddToPipeline(name, app, stage string) (api.Pipeline, error) {
	if api.StageIndex(stage) < 0 {
		return api.Pipeline{}, invalid("%q is not a stage: use one of %s", stage, strings.Join(api.Stages, ", "))
	}
	return s.updatePipeline(name, func(p *api.Pipeline, tx *bolt.Tx) error {
		if err := requireApp(tx, app); err != nil {
			return err
		}
		if other := tx.Bucket(bucketPipelineApps).Get([]byte(app)); other != nil {
			was := p.StageOf(app)
			if string(other) != name {
				o, err := getPipeline(tx, string(other))
				if err != nil {
					return err
				}
				was = o.StageOf(app)
			}
			return detail(ErrInPipeline, "%s is already in pipeline %s at stage %s: an app is in one pipeline once; remove it first with `pier pipelines remove -a %s`", app, other, was, app)
		}
		p.Apps = append(p.Apps, api.PipelineApp{App: app, Stage: stage})
		return tx.Bucket(bucketPipelineApps).Put([]byte(app), []byte(name))
	})
}

// RemoveFromPipeline takes app out of its pipeline and returns the
// pipeline; ErrNotInPipeline when it is in none.
func (s *Store) RemoveFromPipeline(app string) (api.Pipeline, error) {
	var p api.Pipeline
	err := s.update(func(tx *bolt.Tx) error {
		name := tx.Bucket(bucketPipelineApps).Get([]byte(app))
		if name == nil {
			return detail(ErrNotInPipeline, "%s is in no pipeline", app)
		}
		var err error
		p, err = removeFromPipeline(tx, string(name), app)
		return err
	})
	return p, err
}

// UpdatePipeline reads the pipeline, lets fn change its review settings and
// writes it back, in one transaction; when fn returns an error nothing is
// written. Its apps change only through AddToPipeline and
// RemoveFromPipeline.
func (s *Store) UpdatePipeline(name string, fn func(*api.Pipeline) error) (api.Pipeline, error) {
	return s.updatePipeline(name, func(p *api.Pipeline, tx *bolt.Tx) error {
		apps := slices.Clone(p.Apps)
		if err := fn(p); err != nil {
			return err
		}
		p.Apps = apps
		return nil
	})
}

func (s *Store) updatePipeline(name string, fn func(*api.Pipeline, *bolt.Tx) error) (api.Pipeline, error) {
	var p api.Pipeline
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if p, err = getPipeline(tx, name); err != nil {
			return err
		}
		if err := fn(&p, tx); err != nil {
			return err
		}
		if p.Name != name {
			return invalid("pipeline %s cannot be renamed", name)
		}
		return putPipeline(tx, p)
	})
	if err != nil {
		return api.Pipeline{}, err
	}
	return p, nil
}

// DeletePipeline removes the pipeline; its apps stay, in no pipeline.
func (s *Store) DeletePipeline(name string) error {
	return s.update(func(tx *bolt.Tx) error {
		p, err := getPipeline(tx, name)
		if err != nil {
			return err
		}
		for _, a := range p.Apps {
			if err := tx.Bucket(bucketPipelineApps).Delete([]byte(a.App)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketPipelines).Delete([]byte(name))
	})
}

// leavePipeline takes a deleted app out of its pipeline, and out of the
// pipeline's review settings when it was their template.
func leavePipeline(tx *bolt.Tx, app string) error {
	name := tx.Bucket(bucketPipelineApps).Get([]byte(app))
	if name == nil {
		return nil
	}
	_, err := removeFromPipeline(tx, string(name), app)
	return err
}

func removeFromPipeline(tx *bolt.Tx, name, app string) (api.Pipeline, error) {
	p, err := getPipeline(tx, name)
	if err != nil {
		return p, err
	}
	p.Apps = slices.DeleteFunc(p.Apps, func(a api.PipelineApp) bool { return a.App == app })
	if p.Review.Template == app {
		p.Review.Template = ""
	}
	if err := tx.Bucket(bucketPipelineApps).Delete([]byte(app)); err != nil {
		return p, err
	}
	return p, putPipeline(tx, p)
}

func getPipeline(tx *bolt.Tx, name string) (api.Pipeline, error) {
	var p api.Pipeline
	ok, err := getJSON(tx.Bucket(bucketPipelines), []byte(name), &p)
	if err != nil {
		return p, fmt.Errorf("reading pipeline %s: %w", name, err)
	}
	if !ok {
		return p, detail(ErrPipelineNotFound, "pipeline %q not found: see `pier pipelines list`", name)
	}
	return p, nil
}

func putPipeline(tx *bolt.Tx, p api.Pipeline) error {
	slices.SortStableFunc(p.Apps, func(a, b api.PipelineApp) int {
		if d := api.StageIndex(a.Stage) - api.StageIndex(b.Stage); d != 0 {
			return d
		}
		return strings.Compare(a.App, b.App)
	})
	for i := range p.Apps {
		p.Apps[i] = api.PipelineApp{App: p.Apps[i].App, Stage: p.Apps[i].Stage}
	}
	return putJSON(tx.Bucket(bucketPipelines), []byte(p.Name), p)
}
