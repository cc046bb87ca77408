package nomad

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierhq/pier/scheduler"
	"github.com/pierhq/pier/scheduler/schedulertest"
)

// slugServer serves the slugs of a test the way the agent does: signed,
// expiring URLs checked by VerifySlugURL.
type slugServer struct {
	*httptest.Server
	key   []byte
	mu    sync.Mutex
	paths map[string]string // slug ID -> file
	hits  map[string]int
}

func newSlugServer(t *testing.T) *slugServer {
	s := &slugServer{key: []byte("test-key-0123456789abcdef"), paths: map[string]string{}, hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := VerifySlugURL(r, s.key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		s.mu.Lock()
		path, ok := s.paths[id]
		s.hits[id]++
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, path)
	}))
	t.Cleanup(s.Close)
	return s
}

// url registers the deployment's slug and returns its signed URL.
func (s *slugServer) url(d scheduler.Deployment) string {
	id := d.SlugSHA256[:16]
	s.mu.Lock()
	s.paths[id] = d.Slug
	s.mu.Unlock()
	return SignSlugURL(s.URL, id, s.key, 10*time.Minute)
}

// withSlugURLs gives every deployment a URL of the slug server, as the
// agent does before it calls the scheduler.
type withSlugURLs struct {
	*Scheduler
	slugs *slugServer
}

func (w withSlugURLs) Deploy(ctx context.Context, d scheduler.Deployment) error {
	d.SlugURL = w.slugs.url(d)
	return w.Scheduler.Deploy(ctx, d)
}

func (w withSlugURLs) Run(ctx context.Context, app string, r scheduler.OneOff) (int, error) {
	r.SlugURL = w.slugs.url(r.Deployment)
	return w.Scheduler.Run(ctx, app, r)
}

func newTestScheduler(t *testing.T, a *devAgent, onChange func(string)) *Scheduler {
	t.Helper()
	s, err := New(Options{Address: a.Addr, Token: a.Token, OnChange: onChange, Logf: t.Logf})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestScheduler(t *testing.T) {
	a := startAgent(t)
	slugs := newSlugServer(t)
	schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("nomad agent log:\n%s", a.agentLog())
			}
		})
		return withSlugURLs{newTestScheduler(t, a, nil), slugs}
	})
}

func TestNewUnreachable(t *testing.T) {
	l, _ := freePorts(1)
	_, err := New(Options{Address: "http://127.0.0.1:" + strconv.Itoa(l[0])})
	if err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("New against nothing: %v, want a 'does not answer' error", err)
	}
	if _, err := New(Options{Address: "http://127.0.0.1:1", Driver: "docker"}); err == nil || !strings.Contains(err.Error(), "unknown driver") {
		t.Errorf("New with driver docker: %v", err)
	}
}

func TestNewWrongToken(t *testing.T) {
	a := startAgent(t)
	_, err := New(Options{Address: a.Addr, Token: "00000000-0000-0000-0000-000000000000"})
	if err == nil || !strings.Contains(err.Error(), "refuses the token") {
		t.Errorf("New with a wrong token: %v, want 'refuses the token'", err)
	}
}

// TestUnplaceable: Deploy reports Nomad's own reason and leaves no job.
func TestUnplaceable(t *testing.T) {
	a := startAgent(t)
	slugs := newSlugServer(t)
	slug := schedulertest.HelloSlug(t)
	s, err := New(Options{Address: a.Addr, Token: a.Token, Resources: map[string]Resources{"web": {CPU: 100, MemoryMB: 1 << 24}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := schedulertest.Deployment("huge", "blue", 1, slug, scheduler.Formation{"web": 1})
	err = withSlugURLs{s, slugs}.Deploy(bg(t), d)
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("Deploy of a 16 TB web: %v, want Nomad's reason naming memory", err)
	}
	t.Logf("Deploy: %v", err)
	if _, _, err := a.client(t).Jobs().Info(JobID("huge", "blue"), nil); err == nil {
		t.Errorf("the job of a failed deploy is still registered")
	}
}

// TestAdoptAndSecrets: a new scheduler sees what an old one started, and
// config vars are neither in the job nor in its meta.
func TestAdoptAndSecrets(t *testing.T) {
	a := startAgent(t)
	slugs := newSlugServer(t)
	slug := schedulertest.HelloSlug(t)
	var mu sync.Mutex
	changed := map[string]int{}
	first := newTestScheduler(t, a, nil)
	d := schedulertest.Deployment("adopt", "green", 2, slug, scheduler.Formation{"web": 1})
	d.Env["SECRET_KEY"] = "s3cr3t-value"
	t.Cleanup(func() { first.Stop(context.Background(), "adopt", "") })
	if err := (withSlugURLs{first, slugs}).Deploy(bg(t), d); err != nil {
		t.Fatal(err)
	}
	web := schedulertest.WaitUp(t, first, "adopt", "green", scheduler.Formation{"web": 1})["web.1"]
	if env := schedulertest.Env(t, web.Addr); env["SECRET_KEY"] != "s3cr3t-value" || env["GREETING"] != "hi" {
		t.Errorf("config vars did not reach the app: SECRET_KEY=%q GREETING=%q", env["SECRET_KEY"], env["GREETING"])
	}
	job, _, err := a.client(t).Jobs().Info(JobID("adopt", "green"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if spec := strings.ToLower(jobText(t, job)); strings.Contains(spec, "s3cr3t") || strings.Contains(spec, "secret_key") {
		t.Errorf("the config var is in the job")
	}
	first.Close()

	second := newTestScheduler(t, a, func(app string) {
		mu.Lock()
		changed[app]++
		mu.Unlock()
	})
	ins := schedulertest.WaitUp(t, second, "adopt", "green", scheduler.Formation{"web": 1})
	if got := ins["web.1"]; got.Addr != web.Addr || got.PID != web.PID || got.Release != 2 || got.Node == "" {
		t.Errorf("adopted %+v, want %+v", got, web)
	}
	// An instance that dies is noticed through the event stream.
	schedulertest.Get(web.Addr, "/crash")
	schedulertest.WaitFor(t, "OnChange after the crash", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return changed["adopt"] > 0, "no call"
	})
	text := readAll(t, second, "adopt")
	if strings.Contains(text, "s3cr3t") {
		t.Errorf("the config var is in the logs")
	}
}

func TestStopUnknown(t *testing.T) {
	a := startAgent(t)
	s := newTestScheduler(t, a, nil)
	if err := s.Stop(bg(t), "neverdeployed", ""); !errors.Is(err, scheduler.ErrNotFound) {
		t.Errorf("Stop of an app never deployed: %v, want ErrNotFound", err)
	}
	if err := s.Scale(bg(t), "neverdeployed", "blue", scheduler.Formation{"web": 1}); !errors.Is(err, scheduler.ErrNotFound) {
		t.Errorf("Scale of an app never deployed: %v, want ErrNotFound", err)
	}
}

func readAll(t *testing.T, s scheduler.Scheduler, app string) string {
	rc, err := s.Logs(bg(t), app, scheduler.LogOptions{Lines: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func jobText(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSlugFetchFails: a slug Nomad cannot fetch fails the deploy with the
// artifact error, and the slot keeps running the release it ran before.
func TestSlugFetchFails(t *testing.T) {
	a := startAgent(t)
	slugs := newSlugServer(t)
	slug := schedulertest.HelloSlug(t)
	s := newTestScheduler(t, a, nil)
	t.Cleanup(func() { s.Stop(context.Background(), "fetchfail", "") })
	v1 := schedulertest.Deployment("fetchfail", "blue", 1, slug, scheduler.Formation{"web": 1})
	if err := (withSlugURLs{s, slugs}).Deploy(bg(t), v1); err != nil {
		t.Fatal(err)
	}
	before := schedulertest.WaitUp(t, s, "fetchfail", "blue", scheduler.Formation{"web": 1})["web.1"]
	v2 := schedulertest.Deployment("fetchfail", "blue", 2, slug, scheduler.Formation{"web": 1})
	v2.SlugURL = SignSlugURL(slugs.URL, "nosuchslug", slugs.key, time.Minute)
	err := s.Deploy(bg(t), v2)
	if err == nil || !strings.Contains(err.Error(), "Failed Artifact Download") {
		t.Fatalf("Deploy of an unreachable slug: %v, want the artifact error", err)
	}
	if strings.Contains(err.Error(), v2.SlugURL[strings.Index(v2.SlugURL, "sig=")+4:]) {
		t.Errorf("the error shows the slug URL's signature: %v", err)
	}
	t.Logf("Deploy: %v", err)
	after := schedulertest.WaitUp(t, s, "fetchfail", "blue", scheduler.Formation{"web": 1})["web.1"]
	if after.Release != 1 {
		t.Errorf("after the failed deploy the slot runs v%d, want v1", after.Release)
	}
	if _, err := schedulertest.Get(after.Addr, "/"); err != nil {
		t.Errorf("v1 does not answer after the failed deploy: %v (it ran at %s before)", err, before.Addr)
	}
}
