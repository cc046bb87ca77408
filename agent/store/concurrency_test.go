package store

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pierhq/pier/api"
)

// TestConcurrentUse runs writers and readers of every kind at once; run it
// with -race. Versions must come out unique and gapless.
func TestConcurrentUse(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	const workers, each = 8, 10

	var wg sync.WaitGroup
	errs := make(chan error, workers*each*4)
	versions := make(chan int, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			app := fmt.Sprintf("app-%d", w)
			if err := s.CreateApp(api.App{Name: app}); err != nil {
				errs <- err
				return
			}
			for i := range each {
				r, err := s.CreateRelease(api.Release{App: "blog"}, map[string]string{"W": fmt.Sprint(w)})
				if err != nil {
					errs <- err
					continue
				}
				versions <- r.Version
				_, err = s.UpdateApp("blog", func(a *api.App) error {
					if a.Formation == nil {
						a.Formation = map[string]int{}
					}
					a.Formation["web"]++
					return nil
				})
				if err != nil {
					errs <- err
				}
				if err := s.SetConfig(app, map[string]string{"I": fmt.Sprint(i)}); err != nil {
					errs <- err
				}
				if err := s.AppendEvent(api.Event{App: "blog", Type: api.EventDeploySucceeded}); err != nil {
					errs <- err
				}
				if _, err := s.AddDomain(app, fmt.Sprintf("h%d.%s.example.com", i, app)); err != nil {
					errs <- err
				}
				if _, err := s.ListReleases("blog"); err != nil {
					errs <- err
				}
				if _, err := s.Config(app); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(versions)
	for err := range errs {
		t.Error(err)
	}

	seen := map[int]bool{}
	for v := range versions {
		if seen[v] {
			t.Errorf("version %d handed out twice", v)
		}
		seen[v] = true
	}
	for v := 1; v <= workers*each; v++ {
		if !seen[v] {
			t.Errorf("version %d missing", v)
		}
	}
	a, _ := s.GetApp("blog")
	if a.Formation["web"] != workers*each {
		t.Errorf("web = %d after %d increments: an update was lost", a.Formation["web"], workers*each)
	}
	if all, _ := s.AllDomains(); len(all) != workers*each {
		t.Errorf("AllDomains has %d, want %d", len(all), workers*each)
	}
	if evs, _ := s.Events("blog", 0); len(evs) != workers*each {
		t.Errorf("Events has %d, want %d", len(evs), workers*each)
	}
}
