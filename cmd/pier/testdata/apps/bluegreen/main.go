// bluegreen is the hello fixture with a worker and a release command: the
// app of the blue/green end-to-end tests. It answers with its release, slot
// and a greeting, and can be told to crash or fail (FAIL_REQUESTS: / answers
// 500 while its health check passes).
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// greeting changes between pushes in the tests (-ldflags "-X main.greeting=...").
var greeting = "hello"

// crashAfter, when set at build time (-X main.crashAfter=3s), makes every
// process of the build crash that long after it starts, as CRASH_AFTER does.
var crashAfter = ""

// failEvery, when set at build time (-X main.failEvery=10), makes every
// Nth answer of / a 500: a release that fails a share of its requests.
var failEvery = ""

var served atomic.Int64

// delay, when set at build time (-X main.delay=300ms), makes / that slow.
var delay = ""

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "5000"
	}
	mux := http.NewServeMux()
	every, _ := strconv.Atoi(failEvery)
	pause, _ := time.ParseDuration(delay)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(pause)
		if every > 0 && served.Add(1)%int64(every) == 0 {
			http.Error(w, "failing one in "+failEvery+" on purpose", http.StatusInternalServerError)
			return
		}
		if os.Getenv("FAIL_REQUESTS") != "" {
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s from %s %s %s color=%s\n", greeting, os.Getenv("PIER_APP"), os.Getenv("PIER_RELEASE"), os.Getenv("PIER_SLOT"), os.Getenv("COLOR"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("UNHEALTHY") != "" {
			http.Error(w, "unhealthy on purpose", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"PORT", "DYNO", "PIER_APP", "PIER_RELEASE", "PIER_SLOT", "COLOR", "PIER_TOKEN", "PIER_SECRET_KEY",
			"SOURCE_VERSION", "PIER_COMMIT", "PIER_RELEASE_CREATED_AT", "SENTRY_RELEASE"} {
			fmt.Fprintf(w, "%s=%s\n", k, os.Getenv(k))
		}
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id"} {
			fmt.Fprintf(w, "%s=%s\n", k, r.Header.Get(k))
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Second)
		fmt.Fprintf(w, "slow %s\n", os.Getenv("PIER_RELEASE"))
	})
	if c := cmp.Or(os.Getenv("CRASH_AFTER"), crashAfter); c != "" {
		d, _ := time.ParseDuration(c)
		go func() { time.Sleep(d); log.Fatal("crashing on purpose") }()
	}
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("listening on %s", port)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-drained // in-flight requests finish before the process exits
}
