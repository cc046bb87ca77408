// Command worker analyzes batch jobs: every *.txt file dropped into
// QUEUE_DIR becomes a JSON result in RESULTS_DIR; with DATABASE_URL, every
// row of the jobs table a row of the results table. It logs a heartbeat every
// minute and stops cleanly on SIGTERM.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/pierhq/pier/sample-app/config"
	"github.com/pierhq/pier/sample-app/data"
	"github.com/pierhq/pier/sample-app/nlp"
	"github.com/pierhq/pier/sample-app/pgqueue"
	"github.com/pierhq/pier/sample-app/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
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
	logger.Printf("worker: model %s trained in %.1fms", a.Model, a.Stats.TrainMillis)
	w := &worker.Worker{
		Analyzer:   a,
		QueueDir:   cfg.QueueDir,
		ResultsDir: cfg.ResultsDir,
		Sentences:  cfg.SummarySentences,
		MaxBytes:   cfg.MaxTextBytes,
		Log:        logger,
	}
	if cfg.DatabaseURL != "" {
		if w.DB, err = pgqueue.Open(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
		defer w.DB.Close()
	}
	return w.Run(ctx, cfg.PollInterval, cfg.Heartbeat)
}
