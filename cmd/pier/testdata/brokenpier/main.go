// brokenpier stands in for a bad pier release in the upgrade tests: it
// answers `version --json` as pier does, so `pier upgrade` takes it, and
// then fails as agent: with -X main.mode=crash it exits at once, with
// hang it runs and never becomes ready.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var (
	version = "v0.0.0-broken"
	mode    = "crash"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Printf("{\"client\": %q}\n", version)
		return
	}
	switch mode {
	case "hang":
		fmt.Fprintln(os.Stderr, "brokenpier: starting, and never ready")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
	default:
		fmt.Fprintln(os.Stderr, "brokenpier: crashing at start")
		os.Exit(1)
	}
}
