// Command web serves Text Lens: the page, the JSON API and /healthz on
// $PORT. On SIGTERM it stops accepting connections and lets in-flight
// requests finish.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pierhq/pier/sample-app/config"
	"github.com/pierhq/pier/sample-app/data"
	"github.com/pierhq/pier/sample-app/errtrack"
	"github.com/pierhq/pier/sample-app/flags"
	"github.com/pierhq/pier/sample-app/nlp"
	"github.com/pierhq/pier/sample-app/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	logger := log.New(os.Stdout, "", 0)
	a, err := nlp.Train(cfg.Model, data.Texts)
	if err != nil {
		return fmt.Errorf("training the %s model: %w", cfg.Model, err)
	}
	logger.Printf("web: model %s trained on %d texts in %.1fms; held-out accuracy sentiment=%.2f topic=%.2f",
		a.Model, a.Stats.Train, a.Stats.TrainMillis, a.Stats.SentimentAccuracy, a.Stats.TopicAccuracy)
	logger.Printf("web: config %s", cfg)
	if names := config.SecretNames(os.Environ()); len(names) > 0 {
		logger.Printf("web: secrets set (values hidden): %s", strings.Join(names, ", "))
	}
	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		return fmt.Errorf("listening on port %s: %w (set PORT to a free port)", cfg.Port, err)
	}
	logger.Printf("web: listening on %s", ln.Addr())
	srv := web.New(cfg, a, logger)
	srv.Flags = flags.Load(os.Environ(), logger.Printf)
	logger.Printf("web: feature flags %s", srv.Flags)
	if srv.Errors, err = errtrack.New(os.Getenv); err != nil {
		return err
	}
	if srv.Errors != nil {
		logger.Printf("web: errors go to Sentry with release %s", srv.Errors.Release())
	}
	return web.Serve(ctx, ln, srv.Handler(), cfg.ShutdownTimeout, logger)
}
