package store

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestReleaseVersionsIncreaseAndSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	key := testKey(t)
	s := openAt(t, path, key)
	mustCreateApp(t, s, "blog", "shop")

	for want := 1; want <= 3; want++ {
		r, err := s.CreateRelease(api.Release{App: "blog", Description: "Deploy", Version: 99}, map[string]string{"B": "2", "A": "1"})
		if err != nil {
			t.Fatalf("CreateRelease: %v", err)
		}
		if r.Version != want {
			t.Errorf("release version = %d, want %d", r.Version, want)
		}
		if r.CreatedAt.IsZero() || r.Status != api.StatusPending {
			t.Errorf("release = %+v, want CreatedAt set and status pending", r)
		}
		if !reflect.DeepEqual(r.ConfigKeys, []string{"A", "B"}) {
			t.Errorf("ConfigKeys = %v, want [A B]", r.ConfigKeys)
		}
	}
	// Versions are per app.
	if r, err := s.CreateRelease(api.Release{App: "shop"}, nil); err != nil || r.Version != 1 {
		t.Errorf("first shop release = v%d, %v; want v1", r.Version, err)
	}
	s.Close()

	s = openAt(t, path, key)
	r, err := s.CreateRelease(api.Release{App: "blog"}, nil)
	if err != nil || r.Version != 4 {
		t.Fatalf("release after reopen = v%d, %v; want v4", r.Version, err)
	}
	rels, err := s.ListReleases("blog")
	if err != nil {
		t.Fatal(err)
	}
	var versions []int
	for _, r := range rels {
		versions = append(versions, r.Version)
	}
	if want := []int{4, 3, 2, 1}; !reflect.DeepEqual(versions, want) {
		t.Errorf("ListReleases versions = %v, want newest first %v", versions, want)
	}
}

func TestReleaseErrors(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	if _, err := s.CreateRelease(api.Release{App: "blog"}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"create for missing app", func() error { _, err := s.CreateRelease(api.Release{App: "nope"}, nil); return err }, ErrAppNotFound},
		{"create with bad var", func() error {
			_, err := s.CreateRelease(api.Release{App: "blog"}, map[string]string{"A=B": "x"})
			return err
		}, ErrInvalid},
		{"get v0", func() error { _, err := s.GetRelease("blog", 0); return err }, ErrReleaseNotFound},
		{"get v2", func() error { _, err := s.GetRelease("blog", 2); return err }, ErrReleaseNotFound},
		{"get of missing app", func() error { _, err := s.GetRelease("nope", 1); return err }, ErrAppNotFound},
		{"list of missing app", func() error { _, err := s.ListReleases("nope"); return err }, ErrAppNotFound},
		{"config of v7", func() error { _, err := s.ReleaseConfig("blog", 7); return err }, ErrReleaseNotFound},
		{"update v5", func() error {
			_, err := s.UpdateRelease("blog", 5, func(*api.Release) error { return nil })
			return err
		}, ErrReleaseNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// The failed create did not use up a version.
	if r, err := s.CreateRelease(api.Release{App: "blog"}, nil); err != nil || r.Version != 2 {
		t.Errorf("next release = v%d, %v; want v2", r.Version, err)
	}
}

func TestUpdateRelease(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	r, err := s.CreateRelease(api.Release{App: "blog", Commit: "abc"}, map[string]string{"K": "v"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateRelease("blog", 1, func(r *api.Release) error {
		r.Status, r.Slot = api.StatusLive, api.SlotBlue
		r.Version, r.App, r.ConfigKeys = 7, "x", nil // ignored: identity and keys are fixed
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateRelease: %v", err)
	}
	want := r
	want.Status, want.Slot = api.StatusLive, api.SlotBlue
	if stored, _ := s.GetRelease("blog", 1); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(stored, want) {
		t.Errorf("after update: returned %+v, stored %+v, want %+v", got, stored, want)
	}

	boom := errors.New("boom")
	if _, err := s.UpdateRelease("blog", 1, func(r *api.Release) error { r.Status = api.StatusFailed; return boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateRelease err = %v, want boom", err)
	}
	if stored, _ := s.GetRelease("blog", 1); stored.Status != api.StatusLive {
		t.Errorf("a failed update changed the status to %s", stored.Status)
	}
}

func TestReleaseConfigIsASnapshot(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	v1 := map[string]string{"A": "1"}
	if _, err := s.CreateRelease(api.Release{App: "blog"}, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRelease(api.Release{App: "blog"}, map[string]string{"A": "2", "B": "3"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig("blog", map[string]string{"A": "current"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReleaseConfig("blog", 1)
	if err != nil || !reflect.DeepEqual(got, v1) {
		t.Errorf("ReleaseConfig(v1) = %v, %v; want %v", got, err, v1)
	}
	got, err = s.ReleaseConfig("blog", 2)
	if err != nil || got["A"] != "2" || got["B"] != "3" {
		t.Errorf("ReleaseConfig(v2) = %v, %v", got, err)
	}
}
