//go:build bench

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// benchUpstreamApp is the app TestBenchEdgeServe deploys: the same trivial
// answer as proxy/internal/benchupstream, so that the deployed instance can
// be the one upstream of every proxy scripts/bench-proxy compares.
var benchUpstreamApp = map[string]string{
	"Procfile": "web: benchapp\n",
	"go.mod":   "module example.com/benchapp\n\ngo 1.22\n",
	"main.go": `// benchapp answers every request with a short plain-text body.
package main

import (
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	body := []byte("hello from the upstream\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
`,
}

// TestBenchEdgeServe is not a benchmark by itself: it starts the real agent
// for scripts/bench-proxy, with HTTPS on (its certificate issued by Pebble,
// ECDSA P-256 as certmagic makes them), router logs and metrics on as
// always, and an app deployed by git push; it writes what the script needs
// to BENCH_EDGE_OUT as shell assignments and keeps serving until the file
// BENCH_EDGE_OUT.stop appears (or BENCH_EDGE_MAX, default 2h, has passed).
// With BENCH_EDGE_OLD_BIN set, a second agent runs that binary the same
// way, so that two builds can be measured in the same rounds.
//
//	BENCH_EDGE_OUT=/tmp/edge.env go test -tags bench -run TestBenchEdgeServe ./cmd/pier
func TestBenchEdgeServe(t *testing.T) {
	needE2E(t)
	out := os.Getenv("BENCH_EDGE_OUT")
	if out == "" {
		t.Skip("run by scripts/bench-proxy, which sets BENCH_EDGE_OUT")
	}
	maxWait := 2 * time.Hour
	if v := os.Getenv("BENCH_EDGE_MAX"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("BENCH_EDGE_MAX=%q: %v", v, err)
		}
		maxWait = d
	}
	var env strings.Builder
	benchEdgeAgent(t, &env, "AGENT", pierBin)
	if old := os.Getenv("BENCH_EDGE_OLD_BIN"); old != "" {
		benchEdgeAgent(t, &env, "OLD_AGENT", old)
	}
	if err := os.WriteFile(out+".tmp", []byte(env.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(maxWait)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(out + ".stop"); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("no %s.stop after %s: stopping", out, maxWait)
}

// benchEdgeAgent starts one agent running bin, deploys the bench app on it
// and waits for its certificate; it writes PREFIX_PID, PREFIX_HTTP,
// PREFIX_HTTPS, PREFIX_HOST (served over HTTPS), PREFIX_PLAIN_HOST (served
// over plain HTTP), PREFIX_INSTANCE and PREFIX_INSTANCE_PID (the app instance's address and process),
// PREFIX_CERT and PREFIX_KEY (the files of the certificate it serves).
func benchEdgeAgent(t *testing.T, env *strings.Builder, prefix, bin string) {
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	p := startPebble(t, portOfAddr(httpAddr), portOfAddr(httpsAddr))
	a := startAgent(t, agentOpts{bin: bin, extra: edgeEnv(p, httpAddr, httpsAddr)})
	a.httpAddr = httpAddr
	e := &edgeAgent{agentProc: a, httpsAddr: httpsAddr, pebble: p}
	const app = "bench"
	host := app + "." + edgeDomain
	e.mustPier("apps", "create", app)
	shareGoBuildCache(t, a, app)
	repo := newRepoWith(t, benchUpstreamApp)
	repo.remote(a, app, a.token)
	if out, err := repo.push("main"); err != nil {
		t.Fatalf("pushing the bench app: %v\n%s", err, out)
	}
	e.waitCert(t, app, host, "valid")
	// Plain HTTP of a host with a certificate is a 308 to HTTPS: a host
	// whose order fails (the test DNS points it nowhere) has none, and is
	// proxied over plain HTTP.
	plainHost := unreachablePrefix + "bench-plain.test"
	e.mustPier("domains", "add", "-a", app, plainHost)
	e.waitCert(t, app, plainHost, "failing")
	var insts []api.Instance
	a.pierJSON(&insts, "ps", "-a", app)
	instance, instancePID := "", 0
	for _, in := range insts {
		if in.Type == "web" && in.Addr != "" {
			instance, instancePID = in.Addr, in.PID
		}
	}
	if instance == "" {
		t.Fatalf("no web instance with an address: %+v", insts)
	}
	crt, key := benchCertFiles(t, a.dataDir, host)
	fmt.Fprintf(env, "%s_PID=%d\n%s_HTTP=%s\n%s_HTTPS=%s\n%s_HOST=%s\n%s_PLAIN_HOST=%s\n%s_INSTANCE=%s\n%s_INSTANCE_PID=%d\n%s_CERT=%s\n%s_KEY=%s\n",
		prefix, a.pid(), prefix, httpAddr, prefix, httpsAddr, prefix, host, prefix, plainHost, prefix, instance, prefix, instancePID, prefix, crt, prefix, key)
}

// benchCertFiles finds the certificate chain and key the agent stored for
// host (certmagic's layout: certificates/<CA>/<host>/<host>.crt and .key).
func benchCertFiles(t *testing.T, dataDir, host string) (crt, key string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dataDir, "certs", "certificates", "*", host, host+".crt"))
	if len(matches) == 0 {
		t.Fatalf("no certificate file for %s under %s", host, filepath.Join(dataDir, "certs"))
	}
	crt = matches[0]
	return crt, strings.TrimSuffix(crt, ".crt") + ".key"
}
