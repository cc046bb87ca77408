// Command benchproxy serves pier's edge alone (a proxy.Edge, as the agent
// runs it), with one route to one upstream, for load tests. With -tls it
// terminates HTTPS (a self-signed certificate) in front of the plain-HTTP
// upstream, as pier's edge does.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pierhq/pier/proxy"
	"github.com/pierhq/pier/proxy/internal/benchcert"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on; the chosen one is printed")
	upstream := flag.String("upstream", "", "address of the upstream (host:port)")
	host := flag.String("host", "bench.localhost", "Host routed to the upstream")
	useTLS := flag.Bool("tls", false, "terminate HTTPS with a self-signed certificate")
	noLoops := flag.Bool("no-loops", false, "serve plain HTTP in a goroutine per connection, not in event loops")
	loops := flag.Int("loops", 0, "event loops; 0: one per processor")
	withMetrics := flag.Bool("metrics", false, "count requests in Prometheus metrics, as the agent's proxy does")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGINT or SIGTERM")
	flag.Parse()
	if *cpuProfile != "" {
		stop, err := profileCPU(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			<-sig
			stop()
			os.Exit(0)
		}()
	}
	if *upstream == "" {
		log.Fatal("benchproxy: give the upstream's address with -upstream HOST:PORT")
	}
	cfg := proxy.EdgeConfig{Proxy: proxy.Config{Domain: "localhost"}, Source: proxy.NewRouteBoard(), MaxConns: 10000, Loops: *loops}
	if *noLoops {
		cfg.Loops = -1
	}
	if *withMetrics {
		cfg.Proxy.Registerer = prometheus.NewRegistry()
	}
	if *useTLS {
		tc, err := benchcert.TLSConfig()
		if err != nil {
			log.Fatal(err)
		}
		cfg.Certs = selfSigned{tc}
	}
	e, err := proxy.NewEdge(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	if err := route(e, cfg.Source.(*proxy.RouteBoard), *host, *upstream); err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Addr())
	if *useTLS {
		log.Fatal(e.Serve(nil, l))
	}
	log.Fatal(e.Serve(l, nil))
}

// route sends host to the upstream once it has passed its health check,
// as a deploy does.
func route(e *proxy.Edge, board *proxy.RouteBoard, host, upstream string) error {
	c := proxy.Candidate{Upstream: proxy.Upstream{Addr: upstream, Name: "web.1", Slot: "blue", Release: 1}, ID: "web.1"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Check(ctx, c, proxy.HealthCheck{}); err != nil {
		return err
	}
	v := board.Publish([]proxy.DesiredRoute{{
		Route:     proxy.Route{App: "bench", Hosts: []string{host}},
		LiveSlot:  "blue",
		Instances: []proxy.Candidate{c},
	}})
	return board.Applied(ctx, v)
}

// selfSigned serves HTTPS with one certificate and no ACME.
type selfSigned struct{ cfg *tls.Config }

func (s selfSigned) HTTPHandler(next http.Handler) http.Handler { return next }
func (s selfSigned) Passes(host, path string) bool              { return true }
func (s selfSigned) TLSConfig() *tls.Config                     { return s.cfg }

// profileCPU starts a CPU profile into path; the returned func ends it.
func profileCPU(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
