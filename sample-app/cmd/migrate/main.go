// Command migrate is the release-phase step: it brings the database of
// DATABASE_URL, when set, or else the data directory (DATA_DIR, default
// ./data-runtime) to the current schema version. Running it again is a
// no-op that says so; one that fails changes nothing, and the platform
// stops the deploy.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pierhq/pier/sample-app/config"
	"github.com/pierhq/pier/sample-app/datadir"
	"github.com/pierhq/pier/sample-app/pgqueue"
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
	if cfg.DatabaseURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		db, err := pgqueue.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		r, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("migrate: %s\n", r)
		return nil
	}
	r, err := datadir.Migrate(cfg.DataDir)
	if err != nil {
		return err
	}
	fmt.Printf("migrate: %s (%s)\n", r, cfg.DataDir)
	return nil
}
