// Command benchproxy serves the proxy alone, with one route to one
// upstream, for load tests. With -tls it terminates HTTPS (a self-signed
// certificate) in front of the plain-HTTP upstream, as pier's edge does.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

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
	p := proxy.New(proxy.Config{Domain: "localhost"})
	defer p.Close()
	p.SetRoutes([]proxy.Route{{
		App:       "bench",
		Hosts:     []string{*host},
		Upstreams: []proxy.Upstream{{Addr: *upstream, Name: "web.1", Slot: "blue", Release: 1}},
	}})
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Addr())
	srv := proxy.NewFront(p, *addr)
	srv.MaxConns = 10000
	if !*noLoops {
		srv.Loop = &proxy.LoopConfig{Proxy: p, Loops: *loops}
	}
	if *useTLS {
		if srv.TLSConfig, err = benchcert.TLSConfig(); err != nil {
			log.Fatal(err)
		}
		log.Fatal(srv.ServeTLS(l))
	}
	log.Fatal(srv.Serve(l))
}

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
