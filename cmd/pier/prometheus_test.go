package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPrometheusAlertsOnABadRelease runs the real Prometheus with the
// shipped scrape config and rules against a real agent: a release that
// answers 500 raises the per-release error ratio of that release only and
// fires PierHighErrorRatio; a rollback resolves it. Every expression of
// the shipped dashboard is a query Prometheus takes.
func TestPrometheusAlertsOnABadRelease(t *testing.T) {
	needE2E(t)
	bin := requireBinary(t, "prometheus")
	a := startAgent(t, agentOpts{extra: []string{"PIER_WATCH_WINDOW=1s"}})
	const app = "obs"
	a.mustPier("apps", "create", app)
	t.Cleanup(func() { a.pier("apps", "destroy", "-a", app, "--confirm", app) })
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	token := strings.TrimSpace(a.mustPier("tokens", "create", "--role", "read", "prometheus"))
	prom := startPrometheus(t, bin, a.apiAddr, token)

	// Clients all along; paused while a new release is watched, so that
	// the watch window does not roll the bad release back before
	// Prometheus sees it.
	var paused atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if !paused.Load() {
				a.tryGet(app+".localhost", "/")
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	ratio := `sum by (release) (rate(pier_proxy_requests_total{app="obs",code="5xx",release!=""}[30s]))
		/ sum by (release) (rate(pier_proxy_requests_total{app="obs",release!=""}[30s]))`
	waitFor(t, time.Minute, "Prometheus to see v1's requests", func() bool {
		v, ok := prom.query(t, ratio)["v1"]
		return ok && v == 0
	})

	paused.Store(true)
	a.mustPier("config", "set", "-a", app, "FAIL_REQUESTS=1")
	time.Sleep(2 * time.Second) // past the watch window
	paused.Store(false)
	if code, _, _ := a.get(app, "/"); code != 500 {
		t.Fatalf("v2 answers %d, want 500", code)
	}
	waitFor(t, time.Minute, "v2's error ratio to rise", func() bool {
		r := prom.query(t, ratio)
		return r["v2"] > 0.5
	})
	if r := prom.query(t, ratio); r["v1"] > 0.05 {
		t.Errorf("v1's error ratio rose with v2's: %v", r)
	}
	waitFor(t, 3*time.Minute, "PierHighErrorRatio to fire for v2", func() bool {
		return prom.firing(t, "PierHighErrorRatio")["v2"]
	})

	a.mustPier("rollback", "-a", app)
	if code, _, _ := a.get(app, "/"); code != 200 {
		t.Fatalf("after the rollback / answers %d", code)
	}
	waitFor(t, 3*time.Minute, "PierHighErrorRatio to resolve", func() bool {
		return len(prom.firing(t, "PierHighErrorRatio")) == 0
	})

	// The dashboard's queries are valid PromQL.
	for _, ex := range dashboardExprs(t) {
		ex = strings.NewReplacer("$app", app, "$__rate_interval", "1m", "$__range", "1h").Replace(ex)
		if _, err := prom.tryQuery(ex); err != nil {
			t.Errorf("dashboard query %s: %v", ex, err)
		}
	}
}

// promServer is a Prometheus started by a test.
type promServer struct {
	url string
}

// startPrometheus runs Prometheus with ops/prometheus's config and rules,
// scraping the agent at apiAddr every second with token.
func startPrometheus(t *testing.T, bin, apiAddr, token string) *promServer {
	t.Helper()
	dir := t.TempDir()
	conf, err := os.ReadFile("../../ops/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	c := strings.NewReplacer(`"127.0.0.1:7070"`, strconv.Quote(apiAddr),
		"scrape_interval: 15s", "scrape_interval: 1s", "evaluation_interval: 15s", "evaluation_interval: 1s").Replace(string(conf))
	if c == string(conf) || !strings.Contains(c, apiAddr) {
		t.Fatalf("the shipped config no longer has the target and intervals this test replaces:\n%s", conf)
	}
	rules, err := os.ReadFile("../../ops/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"prometheus.yml": []byte(c), "rules.yml": rules, "pier.token": []byte(token + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	var log strings.Builder
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return log.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("prometheus:\n%s", log.String())
			mu.Unlock()
		}
	})
	p := &promServer{url: "http://" + addr}
	waitFor(t, 30*time.Second, "Prometheus to scrape the agent", func() bool {
		v, err := p.tryQuery(`up{job="pier"}`)
		return err == nil && v[""] == 1
	})
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// query returns the instant vector of ex, keyed by its release label.
func (p *promServer) query(t *testing.T, ex string) map[string]float64 {
	t.Helper()
	v, err := p.tryQuery(ex)
	if err != nil {
		t.Fatalf("query %s: %v", ex, err)
	}
	return v
}

func (p *promServer) tryQuery(ex string) (map[string]float64, error) {
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(ex))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	out := map[string]float64{}
	if r.Data.ResultType != "vector" {
		return out, nil
	}
	var vec []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
		return nil, err
	}
	for _, s := range vec {
		f, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		out[s.Metric["release"]] = f
	}
	return out, nil
}

// firing returns the releases for which alert fires.
func (p *promServer) firing(t *testing.T, alert string) map[string]bool {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, al := range r.Data.Alerts {
		if al.Labels["alertname"] == alert && al.State == "firing" {
			out[al.Labels["release"]] = true
		}
	}
	return out
}

// dashboardExprs are the PromQL expressions of ops/grafana/pier.json.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../ops/grafana/pier.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Annotations struct {
			List []struct {
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	for _, an := range d.Annotations.List {
		out = append(out, an.Expr)
	}
	return out
}
