// Command migrate is the release-phase step: it brings the data directory
// (DATA_DIR, default ./data-runtime) to the current schema version. Running
// it again is a no-op that says so.
package main

import (
	"fmt"
	"os"

	"github.com/pierhq/pier/sample-app/config"
	"github.com/pierhq/pier/sample-app/datadir"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	r, err := datadir.Migrate(cfg.DataDir)
	if err != nil {
		return err
	}
	fmt.Printf("migrate: %s (%s)\n", r, cfg.DataDir)
	return nil
}
