package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestAppCRUD(t *testing.T) {
	s := newStore(t)
	created := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	in := api.App{Name: "blog", CreatedAt: created, Formation: map[string]int{"web": 1}}
	if err := s.CreateApp(in); err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if err := s.CreateApp(api.App{Name: "blog"}); !errors.Is(err, ErrAppExists) {
		t.Errorf("second CreateApp(blog) = %v, want ErrAppExists", err)
	}
	got, err := s.GetApp("blog")
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Errorf("GetApp = %+v, %v; want %+v", got, err, in)
	}
	if _, err := s.GetApp("nope"); !errors.Is(err, ErrAppNotFound) || err.Error() != `app "nope" not found` {
		t.Errorf("GetApp(nope) = %v, want ErrAppNotFound naming nope", err)
	}

	mustCreateApp(t, s, "zeta", "alpha")
	apps, err := s.ListApps()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Name)
	}
	if want := []string{"alpha", "blog", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ListApps names = %v, want %v", names, want)
	}
	if a, _ := s.GetApp("alpha"); a.CreatedAt.IsZero() {
		t.Error("CreateApp did not set CreatedAt")
	}

	up, err := s.UpdateApp("blog", func(a *api.App) error {
		a.LiveRelease, a.LiveSlot = 3, api.SlotGreen
		return nil
	})
	if err != nil || up.LiveRelease != 3 {
		t.Fatalf("UpdateApp = %+v, %v", up, err)
	}
	if got, _ := s.GetApp("blog"); got.LiveRelease != 3 || got.LiveSlot != api.SlotGreen {
		t.Errorf("after UpdateApp, GetApp = %+v", got)
	}

	if err := s.DeleteApp("blog"); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	if _, err := s.GetApp("blog"); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("GetApp after delete = %v, want ErrAppNotFound", err)
	}
	if err := s.DeleteApp("blog"); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("second DeleteApp = %v, want ErrAppNotFound", err)
	}
}

func TestCreateAppRejectsBadNames(t *testing.T) {
	s := newStore(t)
	for _, name := range []string{"", "Blog", "1blog", "blog-", "my_app", "a.b", "app/../x", string(make([]byte, 64))} {
		if err := s.CreateApp(api.App{Name: name}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateApp(%q) = %v, want ErrInvalid", name, err)
		}
	}
	if apps, _ := s.ListApps(); len(apps) != 0 {
		t.Errorf("bad names left apps behind: %v", apps)
	}
	for _, name := range []string{"a", "blog", "my-app-2"} {
		if err := s.CreateApp(api.App{Name: name}); err != nil {
			t.Errorf("CreateApp(%q) = %v", name, err)
		}
	}
}

func TestUpdateAppErrorLeavesStoreUnchanged(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	before, _ := s.GetApp("blog")
	boom := errors.New("boom")

	tests := []struct {
		name string
		fn   func(*api.App) error
		want error
	}{
		{"fn fails after changing fields", func(a *api.App) error {
			a.Maintenance = true
			a.Formation = map[string]int{"web": 9}
			return boom
		}, boom},
		{"rename", func(a *api.App) error { a.Name = "other"; return nil }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.UpdateApp("blog", tt.fn); !errors.Is(err, tt.want) {
				t.Fatalf("UpdateApp err = %v, want %v", err, tt.want)
			}
			after, err := s.GetApp("blog")
			if err != nil || !reflect.DeepEqual(after, before) {
				t.Errorf("app changed: %+v, want %+v", after, before)
			}
		})
	}
	if _, err := s.UpdateApp("nope", func(*api.App) error { return nil }); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("UpdateApp(nope) = %v, want ErrAppNotFound", err)
	}
}

func TestDeleteAppCascades(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog", "shop")
	if err := s.SetConfig("blog", map[string]string{"K": "v"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.CreateRelease(api.Release{App: "blog"}, map[string]string{"K": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddDomain("blog", "blog.example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDomain("shop", "shop.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(api.Event{App: "blog", Type: api.EventDeploySucceeded, Message: "v1"}); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteApp("blog"); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}

	// The domain is free for another app, and nothing of blog is left.
	if _, err := s.AddDomain("shop", "blog.example.com"); err != nil {
		t.Errorf("AddDomain of a deleted app's host to shop: %v", err)
	}
	if owner, err := s.DomainApp("blog.example.com"); err != nil || owner != "shop" {
		t.Errorf("DomainApp = %q, %v; want shop", owner, err)
	}
	if all, _ := s.AllDomains(); len(all) != 2 {
		t.Errorf("AllDomains = %v, want shop's two", all)
	}
	// A new app of the same name starts from nothing.
	mustCreateApp(t, s, "blog")
	if cfg, err := s.Config("blog"); err != nil || len(cfg) != 0 {
		t.Errorf("Config of recreated app = %v, %v; want empty", cfg, err)
	}
	if rels, err := s.ListReleases("blog"); err != nil || len(rels) != 0 {
		t.Errorf("ListReleases of recreated app = %v, %v; want none", rels, err)
	}
	if evs, err := s.Events("blog", 0); err != nil || len(evs) != 0 {
		t.Errorf("Events of recreated app = %v, %v; want none", evs, err)
	}
	if _, err := s.ReleaseConfig("blog", 1); !errors.Is(err, ErrReleaseNotFound) {
		t.Errorf("ReleaseConfig(v1) of recreated app = %v, want ErrReleaseNotFound", err)
	}
	r, err := s.CreateRelease(api.Release{App: "blog"}, nil)
	if err != nil || r.Version != 1 {
		t.Errorf("first release of recreated app = v%d, %v; want v1", r.Version, err)
	}
	// The other app is untouched.
	if d, err := s.Domains("shop"); err != nil || len(d) != 2 {
		t.Errorf("Domains(shop) = %v, %v", d, err)
	}
}

func TestAssignUID(t *testing.T) {
	s := newStore(t)
	for _, n := range []string{"one", "two", "three"} {
		if err := s.CreateApp(api.App{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	lowest := func(used map[int]bool) (int, error) {
		for uid := 100; ; uid += 2 {
			if !used[uid] {
				return uid, nil
			}
		}
	}
	a, err := s.AssignUID("one", lowest)
	if err != nil || a != 100 {
		t.Fatalf("one: %d, %v", a, err)
	}
	b, _ := s.AssignUID("two", lowest)
	again, _ := s.AssignUID("one", lowest)
	if b != 102 || again != 100 {
		t.Fatalf("two got %d, one again %d: want 102 and 100", b, again)
	}
	if app, _ := s.GetApp("two"); app.UID != 102 {
		t.Fatalf("the store kept uid %d for two", app.UID)
	}
	if _, err := s.AssignUID("nope", lowest); !errors.Is(err, ErrAppNotFound) {
		t.Fatalf("an unknown app: %v", err)
	}
	if err := s.DeleteApp("one"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.AssignUID("three", lowest); c != 100 {
		t.Fatalf("three got %d: a destroyed app's id is free again", c)
	}
}
