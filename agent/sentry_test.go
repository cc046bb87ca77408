package agent

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/getsentry/sentry-go"

	"github.com/pierhq/pier/api"
)

// A local stand-in for Sentry's ingest endpoint (Sentry itself cannot run
// here): it reads the envelopes the real sentry-go SDK sends and decodes
// their events with the SDK's own Event type.
type sentryStandIn struct {
	mu     sync.Mutex
	events []sentry.Event
	auth   []string
	paths  []string
}

func (s *sentryStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = append(s.paths, r.URL.Path)
	s.auth = append(s.auth, r.Header.Get("X-Sentry-Auth"))
	// An envelope: a header line, then item header and payload lines.
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	sc.Scan() // the envelope's header
	for sc.Scan() {
		var item struct{ Type string }
		_ = json.Unmarshal(sc.Bytes(), &item)
		if !sc.Scan() {
			break
		}
		if item.Type == "event" {
			var e sentry.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err == nil {
				s.events = append(s.events, e)
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}

func TestAgentErrorsAndPanicsGoToSentry(t *testing.T) {
	standIn := &sentryStandIn{}
	srv := httptest.NewServer(standIn)
	defer srv.Close()
	dsn := strings.Replace(srv.URL, "http://", "http://publickey@", 1) + "/42"
	rep, err := newSentryReporter(Config{SentryDSN: dsn, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	rep.error("GET /v1/apps/{app}/releases", errors.New("reading releases of blog: disk on fire"))
	rep.recovered("agent", "nil map write")
	rep.flush()
	standIn.mu.Lock()
	defer standIn.mu.Unlock()
	if len(standIn.events) != 2 {
		t.Fatalf("the stand-in got %d events (paths %v), want 2", len(standIn.events), standIn.paths)
	}
	if standIn.paths[0] != "/api/42/envelope/" || !strings.Contains(standIn.auth[0], "sentry_key=publickey") {
		t.Errorf("sent to %s with auth %q", standIn.paths[0], standIn.auth[0])
	}
	for _, e := range standIn.events {
		if e.Release != "pier@1.2.3" {
			t.Errorf("event release %q, want pier@1.2.3", e.Release)
		}
	}
	// The SDK sends from a queue of its own: find each by where it was.
	var e, p sentry.Event
	for _, ev := range standIn.events {
		switch ev.Tags["where"] {
		case "agent":
			p = ev
		default:
			e = ev
		}
	}
	if len(e.Exception) == 0 || !strings.Contains(e.Exception[len(e.Exception)-1].Value, "disk on fire") || e.Tags["where"] != "GET /v1/apps/{app}/releases" {
		t.Errorf("the error's event: %+v", e)
	}
	if p.Tags["where"] != "agent" || !strings.Contains(p.Message+exceptionValues(p), "nil map write") {
		t.Errorf("the panic's event: %+v", p)
	}
	var none *sentryReporter // no --sentry-dsn: reports nothing, without failing
	none.error("x", errors.New("y"))
	none.flush()
}

func exceptionValues(e sentry.Event) string {
	var s []string
	for _, x := range e.Exception {
		s = append(s, x.Value)
	}
	return strings.Join(s, " ")
}

// A local stand-in for Sentry's web API: each release that goes live is
// created in the app's project and a deploy of it recorded.
func TestDeploysAreToldToTheAppsSentry(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	api0 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
		w.WriteHeader(http.StatusCreated)
	}))
	defer api0.Close()
	st := newTestStore(t, "blog")
	vars := map[string]string{"SENTRY_AUTH_TOKEN": "sntrys_secret", "SENTRY_ORG": "acme", "SENTRY_PROJECT": "blog-web", "SENTRY_URL": api0.URL}
	if _, err := st.CreateRelease(api.Release{App: "blog", Commit: "1a2b3c4d5e6f"}, vars); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRelease(api.Release{App: "blog", Commit: "ffff"}, nil); err != nil { // no Sentry config
		t.Fatal(err)
	}
	s := newSentryReleases(st, webhookGuard{api: netip.MustParseAddrPort("127.0.0.1:1"), allowPrivate: true /* receivers on 127.0.0.1 */}, t.Logf)
	if err := s.tell(context.Background(), api.Event{App: "blog", Type: api.EventDeploySucceeded, Data: api.EventData{"release": "v1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.tell(context.Background(), api.Event{App: "blog", Type: api.EventDeploySucceeded, Data: api.EventData{"release": "v2"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.tell(context.Background(), api.Event{App: "blog", Type: api.EventRollbackAutomatic, Data: api.EventData{"release": "v2", "to": "v1"}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		`POST /api/0/organizations/acme/releases/ Bearer sntrys_secret {"projects":["blog-web"],"version":"1a2b3c4d5e6f"}`,
		`POST /api/0/organizations/acme/releases/1a2b3c4d5e6f/deploys/ Bearer sntrys_secret {"environment":"production","name":"v1"}`,
	}
	if len(calls) != 4 || calls[0] != want[0] || calls[1] != want[1] || calls[2] != want[0] || calls[3] != want[1] {
		t.Errorf("Sentry was called:\n%s\nwant (twice: the deploy of v1, then the rollback to it; v2 has no Sentry config):\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}
