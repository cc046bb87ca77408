package agent

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// TestPromotionTargets: where a promotion may go, and the words of each
// refusal. The end-to-end test (cmd/pier TestPipelinePromote) runs them.
func TestPromotionTargets(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "pier.db"), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range []string{"shop-dev", "shop-staging", "shop", "shop-eu", "blog", "loose"} {
		if err := st.CreateApp(api.App{Name: app, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"shop", "blog"} {
		if err := st.CreatePipeline(api.Pipeline{Name: p}); err != nil {
			t.Fatal(err)
		}
	}
	for app, stage := range map[string]string{"shop-dev": api.StageDevelopment, "shop-staging": api.StageStaging, "shop": api.StageProduction, "shop-eu": api.StageProduction} {
		if _, err := st.AddToPipeline("shop", app, stage); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddToPipeline("blog", "blog", api.StageStaging); err != nil {
		t.Fatal(err)
	}
	dp := &deployer{store: st}
	for _, c := range []struct {
		from string
		to   []string
		want string // the targets, or the refusal's words
		kind error
	}{
		{"shop-staging", nil, "shop,shop-eu", nil},
		{"shop-dev", nil, "shop-staging", nil},
		{"shop-dev", []string{"shop"}, "shop", nil}, // past a stage
		{"shop", nil, "no app of pipeline shop is downstream of shop", ErrConflict},
		{"blog", nil, "no app of pipeline blog is downstream", ErrConflict},
		{"loose", nil, "loose is in no pipeline", ErrConflict},
		{"shop-staging", []string{"shop-staging"}, "cannot be promoted to itself", ErrInvalid},
		{"shop-staging", []string{"shop", "shop"}, "shop is named twice", ErrInvalid},
		{"shop-staging", []string{"nope"}, `there is no app "nope"`, ErrNotFound},
		{"shop-staging", []string{"blog"}, "blog is not in pipeline shop", ErrConflict},
		{"shop-staging", []string{"shop-dev"}, "shop-dev is at stage development, not downstream of shop-staging", ErrConflict},
	} {
		got, err := dp.promotionTargets(c.from, c.to)
		switch {
		case c.kind == nil && (err != nil || strings.Join(got, ",") != c.want):
			t.Errorf("promote %s to %v = %v, %v; want %s", c.from, c.to, got, err, c.want)
		case c.kind != nil && (err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("promote %s to %v: %v; want a %v saying %q", c.from, c.to, err, c.kind, c.want)
		}
	}
}

func TestSameProcessTypes(t *testing.T) {
	rel := api.Release{Version: 4, Processes: map[string]string{"web": "w", "worker": "k", "release": "m"}}
	if err := sameProcessTypes("shop-staging", rel, api.App{Name: "shop"}); err != nil {
		t.Errorf("an app never deployed: %v", err)
	}
	if err := sameProcessTypes("shop-staging", rel, api.App{Name: "shop", LiveRelease: 2, Processes: map[string]string{"worker": "", "web": ""}}); err != nil {
		t.Errorf("the same types (the release command aside): %v", err)
	}
	err := sameProcessTypes("shop-staging", rel, api.App{Name: "shop", LiveRelease: 2, Processes: map[string]string{"web": "", "clock": ""}})
	if err == nil || err.Error() != "the process types differ: v4 of shop-staging has web, worker, shop runs web, clock; deploy shop so they match, then promote" {
		t.Errorf("other types: %v", err)
	}
}
