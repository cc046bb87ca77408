package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestObservability runs an agent with HTTPS (Pebble), deploys, rolls back
// and deploys again, and reads what an operator and an app see: /readyz,
// the release metadata in the app's environment, and /metrics, whose
// series must include every one the shipped rules and dashboard name.
func TestObservability(t *testing.T) {
	needE2E(t)
	e := startEdgeAgent(t)
	const app = "obs"
	host := app + "." + edgeDomain

	if code, body := e.getOpen(t, "/readyz"); code != 200 || body != "store: ok\nscheduler: ok\nroutes: ok\n" {
		t.Errorf("/readyz without a token: %d %q", code, body)
	}
	if code, _ := e.getOpen(t, "/metrics"); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", code)
	}

	e.mustPier("apps", "create", app)
	t.Cleanup(func() { e.pier("apps", "destroy", "-a", app, "--confirm", app) })
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(e.agentProc, app, e.token)
	mustPush(t, repo, "Released v1")
	first := strings.TrimSpace(repo.git("rev-parse", "HEAD"))
	e.mustPier("scale", "-a", app, "web=1:256M")
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := e.httpsClient().Get("https://" + host + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, time.Minute, "a certificate for "+host, func() bool {
		resp, err := e.httpsClient().Get("https://" + host + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	wantCommit := func(when, commit string) {
		t.Helper()
		code, env := get("/env")
		for _, k := range []string{"SOURCE_VERSION", "PIER_COMMIT", "SENTRY_RELEASE"} {
			if code != 200 || !strings.Contains(env, k+"="+commit+"\n") {
				t.Errorf("%s: %s is not %s: %d\n%s", when, k, commit, code, env)
			}
		}
		created := regexp.MustCompile(`PIER_RELEASE_CREATED_AT=(\S+)`).FindStringSubmatch(env)
		if created == nil {
			t.Errorf("%s: no PIER_RELEASE_CREATED_AT:\n%s", when, env)
		} else if _, err := time.Parse(time.RFC3339, created[1]); err != nil {
			t.Errorf("%s: PIER_RELEASE_CREATED_AT=%s: %v", when, created[1], err)
		}
	}
	wantCommit("v1", first)

	repo.rebuild("howdy")
	mustPush(t, repo, "Released v2")
	wantCommit("v2", strings.TrimSpace(repo.git("rev-parse", "HEAD")))
	e.mustPier("rollback", "-a", app)
	wantCommit("after the rollback to v1", first)
	repo.rebuild("hi")
	mustPush(t, repo, "Released v4")
	for range 5 {
		if code, _ := get("/"); code != 200 {
			t.Fatalf("GET / = %d", code)
		}
	}

	var text string
	inst := `app="obs",(instance="web.1",)?process_type="web",release="v4",slot="(blue|green)"`
	measured := regexp.MustCompile(`(?m)^pier_instance_memory_bytes\{` + inst + `\} [1-9]`)
	waitFor(t, 30*time.Second, "v4's memory and the certificate's expiry on /metrics", func() bool {
		text = e.scrape(t)
		return measured.MatchString(text) && strings.Contains(text, `pier_cert_expiry_timestamp_seconds{host="`+host+`"}`)
	})
	for _, want := range []string{
		`pier_proxy_requests_total\{app="obs",code="2xx",process_type="web",release="v4",slot="(blue|green)"\} [1-9]`,
		`pier_proxy_request_duration_seconds_bucket\{` + inst + `,le="0.001"\} `,
		`pier_proxy_requests_in_flight\{` + inst + `\} 0`,
		`pier_proxy_failed_requests_total\{app="obs",cause="timeout",code="504",process_type="web",release="v4",slot="(blue|green)"\} 0`,
		`pier_deploys_total\{app="obs",cause="push",result="succeeded"\} 3`,
		`pier_deploys_total\{app="obs",cause="rollback",result="succeeded"\} 1`,
		`pier_deploy_phase_duration_seconds_count\{app="obs",phase="build"\} 3`,
		`pier_deploy_phase_duration_seconds_count\{app="obs",phase="health_check"\} [34]`,
		`pier_instance_up\{` + inst + `\} 1`,
		`pier_instance_memory_limit_bytes\{` + inst + `\} 2.68435456e\+08`,
		`pier_instance_memory_bytes\{` + inst + `\} [1-9]`,
		`pier_cert_renewal_failing\{host="` + regexp.QuoteMeta(host) + `"\} 0`,
		`pier_agent_build_info\{goversion="go[^"]+",version="[^"]+"\} 1`,
	} {
		if !regexp.MustCompile(`(?m)^` + want).MatchString(text) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// v4 is live, the standby runs v1 (the rollback's slug): v2's
	// series are gone.
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, "pier_proxy_") && strings.Contains(line, `release="v2"`) {
			t.Errorf("a series of v2, neither live nor standby: %s", line)
		}
		if strings.HasPrefix(line, "pier_proxy_") && strings.Contains(line, "host=") {
			t.Errorf("a proxy series names a host: %s", line)
		}
	}

	// Every series the shipped rules and dashboard name is one the agent
	// exports (up is Prometheus' own).
	exported := map[string]bool{"up": true}
	for line := range strings.SplitSeq(text, "\n") {
		if name, _, ok := strings.Cut(line, "{"); ok && !strings.HasPrefix(line, "#") {
			exported[name] = true
		} else if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			exported[name] = true
		}
	}
	for _, f := range []string{"../../ops/prometheus/rules.yml", "../../ops/grafana/pier.json"} {
		for _, name := range seriesNamed(t, f) {
			if !exported[name] {
				t.Errorf("%s names %s, which the agent does not export", f, name)
			}
		}
	}
}

// seriesNamed returns the series names the PromQL expressions of an ops
// file (the expr fields of rules.yml, of the dashboard's targets and
// annotations) use.
func seriesNamed(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	if strings.HasSuffix(file, ".json") {
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					if s, ok := x.(string); ok && k == "expr" {
						exprs = append(exprs, s)
					}
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		var d any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		walk(d)
	} else {
		// expr: | and the indented lines after it, or expr: on one line.
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			rest, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "expr:")
			if !ok {
				continue
			}
			if rest = strings.TrimSpace(rest); rest != "|" {
				exprs = append(exprs, rest)
				continue
			}
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "          ") {
				i++
				exprs = append(exprs, lines[i])
			}
		}
	}
	if len(exprs) == 0 {
		t.Fatalf("no expressions in %s", file)
	}
	// A name is an identifier not followed by "(" (a function) and not
	// inside quotes or braces (label values and matchers); "by (...)"
	// lists labels.
	strip := regexp.MustCompile(`"[^"]*"|\{[^}]*\}|\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|\[[^\]]*\]`)
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	var names []string
	for _, ex := range exprs {
		ex = strip.ReplaceAllString(ex, " ")
		for _, loc := range ident.FindAllStringIndex(ex, -1) {
			name := ex[loc[0]:loc[1]]
			after := strings.TrimLeft(ex[loc[1]:], " ")
			if strings.HasPrefix(after, "(") || slices.Contains(promqlWords, name) {
				continue
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

// promqlWords are PromQL's keywords and the Grafana variables the
// dashboard uses, which are not series.
var promqlWords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "e", "Inf", "NaN", "inf", "nan"}

// getOpen fetches path from the agent's API without a token.
func (a *agentProc) getOpen(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := proxyClient.Get("http://" + a.apiAddr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads the agent's /metrics.
func (a *agentProc) scrape(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.apiAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := proxyClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// TestOpsFilesNameSeries: the names TestObservability looks for in a
// scrape are series, not functions, labels or keywords.
func TestOpsFilesNameSeries(t *testing.T) {
	for _, f := range []string{"../../ops/prometheus/rules.yml", "../../ops/grafana/pier.json"} {
		names := seriesNamed(t, f)
		for _, n := range names {
			if n != "up" && !strings.HasPrefix(n, "pier_") {
				t.Errorf("%s: %q is no series of the agent", f, n)
			}
		}
		for _, want := range []string{"pier_proxy_requests_total", "pier_proxy_request_duration_seconds_bucket", "pier_instance_memory_bytes", "pier_cert_expiry_timestamp_seconds"} {
			if !slices.Contains(names, want) {
				t.Errorf("%s: %s not found among %v", f, want, names)
			}
		}
	}
}
