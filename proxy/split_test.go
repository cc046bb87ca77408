package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// splitRoute is an app whose live slot is blue (live) and whose split sends
// weight percent of clients to green (canary, release 2).
func splitRoute(live, canary *upstream, weight int) Route {
	r := appRoute("shop", live)
	c := canary.up("green")
	c.Release = 2
	r.Upstreams = append(r.Upstreams, c)
	r.Split = Split{Slot: "green", Release: 2, Weight: weight}
	return r
}

func bothEngines(t *testing.T, run func(t *testing.T, f *front)) {
	for _, e := range []struct {
		name  string
		loops bool
	}{{"loops", true}, {"goroutines", false}} {
		t.Run(e.name, func(t *testing.T) { run(t, newFrontWith(t, Config{}, e.loops)) })
	}
}

// Clients without the cookie land on each side in proportion to the
// weight, and each is told its side in a cookie.
func TestSplitSendsTheWeightsShare(t *testing.T) {
	bothEngines(t, func(t *testing.T, f *front) {
		live, canary := newUpstream(t, "live"), newUpstream(t, "canary")
		f.SetRoutes([]Route{splitRoute(live, canary, 25)})
		const n = 1000
		got := 0
		for i := 0; i < n; i++ {
			resp, body := f.do(t, "GET", "shop.localhost", "/")
			if body == "canary" {
				got++
			}
			c := resp.Header.Get("Set-Cookie")
			if !strings.HasPrefix(c, SplitCookie+"=2.") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
				t.Fatalf("Set-Cookie = %q, want the split cookie, HttpOnly, SameSite=Lax", c)
			}
		}
		if share := got * 100 / n; share < 20 || share > 30 {
			t.Fatalf("the canary answered %d of %d requests (%d%%), want about 25%%", got, n, share)
		}
	})
}

// A client that keeps its cookie sees one release every time, and the
// cookie is not sent again.
func TestSplitIsStickyByCookie(t *testing.T) {
	bothEngines(t, func(t *testing.T, f *front) {
		live, canary := newUpstream(t, "live"), newUpstream(t, "canary")
		f.SetRoutes([]Route{splitRoute(live, canary, 50)})
		for _, cookie := range []string{"2.10", "2.90"} { // bucket 10: canary; 90: live
			want := map[string]string{"2.10": "canary", "2.90": "live"}[cookie]
			for i := 0; i < 1000; i++ {
				resp, body := f.do(t, "GET", "shop.localhost", "/", "Cookie", "theme=dark; "+SplitCookie+"="+cookie)
				if body != want {
					t.Fatalf("request %d with %s=%s went to %q, want %q", i, SplitCookie, cookie, body, want)
				}
				if c := resp.Header.Get("Set-Cookie"); c != "" {
					t.Fatalf("a client with its cookie got Set-Cookie %q", c)
				}
			}
		}
		// A cookie of another split (release 1) draws anew.
		resp, _ := f.do(t, "GET", "shop.localhost", "/", "Cookie", SplitCookie+"=1.10")
		if !strings.HasPrefix(resp.Header.Get("Set-Cookie"), SplitCookie+"=2.") {
			t.Fatalf("a stale cookie got Set-Cookie %q, want a new one", resp.Header.Get("Set-Cookie"))
		}
	})
}

// The instance's own cookies reach the client besides the split's, and the
// router log names the release that answered.
func TestSplitKeepsTheAppsCookies(t *testing.T) {
	bothEngines(t, func(t *testing.T, f *front) {
		app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc"})
			w.Write([]byte("ok"))
		})
		live, canary := newUpstream(t, "live"), newUpstream(t, "canary")
		canary.Config.Handler = app
		f.SetRoutes([]Route{splitRoute(live, canary, 100)})
		resp, _ := f.do(t, "GET", "shop.localhost", "/")
		cs := resp.Header.Values("Set-Cookie")
		if len(cs) != 2 {
			t.Fatalf("Set-Cookie = %q, want the app's and the split's", cs)
		}
		if l := f.logOf(t, resp); l.Release != 2 || l.Slot != "green" {
			t.Fatalf("router log names release %d slot %q, want 2 green", l.Release, l.Slot)
		}
	})
}

// Without a healthy instance on its side, a client is served by the other.
func TestSplitFallsBackToTheOtherSide(t *testing.T) {
	f := newFront(t, Config{})
	live := newUpstream(t, "live")
	r := appRoute("shop", live)
	r.Split = Split{Slot: "green", Release: 2, Weight: 100} // no green instance
	f.SetRoutes([]Route{r})
	for i := 0; i < 20; i++ {
		if _, body := f.do(t, "GET", "shop.localhost", "/"); body != "live" {
			t.Fatalf("answer %q, want live", body)
		}
	}
}

// A client that keeps no cookie stays on one side by its split key, and
// the keys share the traffic by the weight.
func TestSplitKeyHeaderIsSticky(t *testing.T) {
	bothEngines(t, func(t *testing.T, f *front) {
		live, canary := newUpstream(t, "live"), newUpstream(t, "canary")
		f.SetRoutes([]Route{splitRoute(live, canary, 30)})
		onCanary := 0
		for u := 0; u < 200; u++ {
			key := fmt.Sprintf("user-%d", u)
			_, first := f.do(t, "GET", "shop.localhost", "/", SplitKeyHeader, key)
			for i := 0; i < 5; i++ {
				resp, body := f.do(t, "GET", "shop.localhost", "/", SplitKeyHeader, key)
				if body != first {
					t.Fatalf("%s went to %q, then to %q", key, first, body)
				}
				if c := resp.Header.Get("Set-Cookie"); c != "" {
					t.Fatalf("a client with a split key got Set-Cookie %q", c)
				}
			}
			if first == "canary" {
				onCanary++
			}
		}
		if onCanary < 40 || onCanary > 80 {
			t.Fatalf("%d of 200 keys went to the canary, want about 60", onCanary)
		}
	})
}
