package store

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestPipelineMembership(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	key := testKey(t)
	s := openAt(t, path, key)
	mustCreateApp(t, s, "shop-staging", "shop", "blog")

	if err := s.CreatePipeline(api.Pipeline{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePipeline(api.Pipeline{Name: "shop"}); !errors.Is(err, ErrPipelineExists) {
		t.Errorf("second CreatePipeline(shop) = %v, want ErrPipelineExists", err)
	}
	if err := s.CreatePipeline(api.Pipeline{Name: "Bad Name"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreatePipeline(Bad Name) = %v, want ErrInvalid", err)
	}
	if _, err := s.AddToPipeline("shop", "shop", api.StageProduction); err != nil {
		t.Fatal(err)
	}
	p, err := s.AddToPipeline("shop", "shop-staging", api.StageStaging)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by stage, upstream first.
	if len(p.Apps) != 2 || p.Apps[0].App != "shop-staging" || p.Apps[1].App != "shop" {
		t.Errorf("pipeline apps = %+v, want shop-staging (staging) then shop (production)", p.Apps)
	}

	// An app is in one pipeline, once: no cycles.
	if _, err := s.AddToPipeline("shop", "shop", api.StageStaging); !errors.Is(err, ErrInPipeline) || !strings.Contains(err.Error(), "at stage production") {
		t.Errorf("adding shop twice = %v, want ErrInPipeline naming its stage", err)
	}
	if err := s.CreatePipeline(api.Pipeline{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddToPipeline("other", "shop", api.StageStaging); !errors.Is(err, ErrInPipeline) || !strings.Contains(err.Error(), "pipeline shop") {
		t.Errorf("adding shop to a second pipeline = %v, want ErrInPipeline naming pipeline shop", err)
	}
	if _, err := s.AddToPipeline("shop", "blog", "qa"); !errors.Is(err, ErrInvalid) {
		t.Errorf("stage qa = %v, want ErrInvalid", err)
	}
	if _, err := s.AddToPipeline("shop", "nope", api.StageStaging); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("missing app = %v, want ErrAppNotFound", err)
	}
	if _, err := s.AddToPipeline("nope", "blog", api.StageStaging); !errors.Is(err, ErrPipelineNotFound) {
		t.Errorf("missing pipeline = %v, want ErrPipelineNotFound", err)
	}

	// Review settings change through UpdatePipeline; its apps do not.
	if _, err := s.UpdatePipeline("shop", func(p *api.Pipeline) error {
		p.Review.Template = "shop-staging"
		p.Apps = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, key)
	p, ok, err := s.PipelineOf("shop-staging")
	if err != nil || !ok || p.Name != "shop" || len(p.Apps) != 2 || p.Review.Template != "shop-staging" {
		t.Fatalf("after reopen PipelineOf(shop-staging) = %+v, %v, %v", p, ok, err)
	}
	// A deleted app leaves its pipeline and its template role.
	if err := s.DeleteApp("shop-staging"); err != nil {
		t.Fatal(err)
	}
	p, _ = s.GetPipeline("shop")
	if len(p.Apps) != 1 || p.Review.Template != "" {
		t.Errorf("after deleting shop-staging the pipeline is %+v", p)
	}
	if _, err := s.RemoveFromPipeline("shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveFromPipeline("shop"); !errors.Is(err, ErrNotInPipeline) {
		t.Errorf("removing again = %v, want ErrNotInPipeline", err)
	}
	// Free again, it may join another.
	if _, err := s.AddToPipeline("other", "shop", api.StageProduction); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePipeline("other"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.PipelineOf("shop"); ok {
		t.Error("shop is still in the deleted pipeline")
	}
	list, err := s.ListPipelines()
	if err != nil || len(list) != 1 || list[0].Name != "shop" {
		t.Errorf("ListPipelines = %+v, %v", list, err)
	}
}

func TestMigrateFromV3AddsPipelines(t *testing.T) {
	path := copyTestdata(t, "v3.db")
	s := openAt(t, path, testKey(t))
	if got := fileVersion(t, path+".v3.bak"); got != "3" {
		t.Errorf("backup has version %s, want the untouched v3 file", got)
	}
	if err := s.CreatePipeline(api.Pipeline{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddToPipeline("shop", "shop-staging", api.StageStaging); err != nil {
		t.Fatalf("adding a v3 app to a pipeline: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileVersion(t, path); got != strconv.Itoa(SchemaVersion) {
		t.Errorf("migrated file version = %s, want %d", got, SchemaVersion)
	}
}
