// Command benchupstream is a trivial HTTP server for load tests of the
// proxy: every request gets a short plain-text answer. With -tls it serves
// HTTPS with a self-signed certificate.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/pierhq/pier/proxy/internal/benchcert"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on; the chosen one is printed")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a self-signed certificate")
	flag.Parse()
	body := []byte("hello from the upstream\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if *useTLS {
		if srv.TLSConfig, err = benchcert.TLSConfig(); err != nil {
			log.Fatal(err)
		}
		log.Fatal(srv.ServeTLS(l, "", ""))
	}
	log.Fatal(srv.Serve(l))
}
