// Command benchproxy serves the proxy alone, with one route to one
// upstream, for load tests.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"

	"github.com/pierhq/pier/proxy"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on; the chosen one is printed")
	upstream := flag.String("upstream", "", "address of the upstream (host:port)")
	host := flag.String("host", "bench.localhost", "Host routed to the upstream")
	flag.Parse()
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
	log.Fatal(proxy.NewServer(p, *addr).Serve(l))
}
