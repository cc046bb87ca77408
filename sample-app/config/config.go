// Package config reads the sample app's settings from environment
// variables, Heroku-style. Secrets (SECRET_KEY, *_TOKEN, ...) are never part
// of a Config's printable form.
package config

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/sample-app/nlp"
)

// Config is every setting the web, worker and migrate processes read.
type Config struct {
	Port             string        // PORT, default 5000
	Model            string        // MODEL: bayes or logreg
	MaxTextBytes     int           // MAX_TEXT_BYTES: longest text /api/analyze accepts
	RateLimitRPS     float64       // RATE_LIMIT_RPS: requests per second per client IP; 0 turns it off
	RateLimitBurst   int           // RATE_LIMIT_BURST: requests a client may make at once
	SummarySentences int           // SUMMARY_SENTENCES: sentences in a summary
	ShutdownTimeout  time.Duration // SHUTDOWN_TIMEOUT: how long in-flight work may take after SIGTERM
	Release          string        // PIER_RELEASE (or HEROKU_RELEASE_VERSION)
	Slot             string        // PIER_SLOT
	Dyno             string        // DYNO
	DataDir          string        // DATA_DIR, default $HOME/data-runtime (./data-runtime without HOME)
	QueueDir         string        // QUEUE_DIR, default DATA_DIR/queue
	ResultsDir       string        // RESULTS_DIR, default DATA_DIR/results
	DatabaseURL      string        // DATABASE_URL: the queue and results go to PostgreSQL; files without it
	PollInterval     time.Duration // WORKER_POLL_INTERVAL
	Heartbeat        time.Duration // WORKER_HEARTBEAT
}

// Load reads the settings through getenv (os.Getenv in the binaries).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Port:    or(getenv("PORT"), "5000"),
		Model:   or(getenv("MODEL"), "bayes"),
		Release: or(getenv("PIER_RELEASE"), getenv("HEROKU_RELEASE_VERSION")),
		Slot:    getenv("PIER_SLOT"),
		Dyno:    getenv("DYNO"),
		DataDir: or(getenv("DATA_DIR"), filepath.Join(getenv("HOME"), "data-runtime")),

		DatabaseURL: getenv("DATABASE_URL"),
	}
	c.QueueDir = or(getenv("QUEUE_DIR"), filepath.Join(c.DataDir, "queue"))
	c.ResultsDir = or(getenv("RESULTS_DIR"), filepath.Join(c.DataDir, "results"))
	if _, err := nlp.TrainerFor(c.Model); err != nil {
		return c, fmt.Errorf("MODEL: %w", err)
	}
	var errs []string
	num := func(name string, def, min float64) float64 {
		s := getenv(name)
		if s == "" {
			return def
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < min {
			errs = append(errs, fmt.Sprintf("%s=%q: want a number of at least %v, e.g. %v", name, s, min, def))
			return def
		}
		return v
	}
	dur := func(name string, def time.Duration) time.Duration {
		s := getenv(name)
		if s == "" {
			return def
		}
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a positive duration such as %s", name, s, def))
			return def
		}
		return v
	}
	c.MaxTextBytes = int(num("MAX_TEXT_BYTES", 20000, 1))
	c.RateLimitRPS = num("RATE_LIMIT_RPS", 5, 0)
	c.RateLimitBurst = int(num("RATE_LIMIT_BURST", 10, 1))
	c.SummarySentences = int(num("SUMMARY_SENTENCES", 3, 1))
	c.ShutdownTimeout = dur("SHUTDOWN_TIMEOUT", 25*time.Second)
	c.PollInterval = dur("WORKER_POLL_INTERVAL", 2*time.Second)
	c.Heartbeat = dur("WORKER_HEARTBEAT", time.Minute)
	if len(errs) > 0 {
		return c, fmt.Errorf("bad configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// ReleaseLabel is what the banner shows: "Release v7 · slot blue", or
// "local" when the platform set nothing.
func (c Config) ReleaseLabel() string {
	if c.Release == "" {
		return "local"
	}
	label := "Release " + c.Release
	if c.Slot != "" {
		label += " · slot " + c.Slot
	}
	return label
}

// Storage is where the queue and the results are: "postgres" (DATABASE_URL)
// or "files" (DATA_DIR).
func (c Config) Storage() string {
	if c.DatabaseURL != "" {
		return "postgres"
	}
	return "files"
}

// String is safe to log: it holds settings, never secrets (DATABASE_URL
// holds a password: only where the data goes is said).
func (c Config) String() string {
	return fmt.Sprintf("model=%s max_text_bytes=%d rate_limit_rps=%g rate_limit_burst=%d summary_sentences=%d release=%q slot=%q storage=%s",
		c.Model, c.MaxTextBytes, c.RateLimitRPS, c.RateLimitBurst, c.SummarySentences, c.Release, c.Slot, c.Storage())
}

// SecretNames lists the names (never the values) of environment variables
// that look secret, so a process can say they are set without showing them.
func SecretNames(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if IsSecret(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// IsSecret reports whether an environment variable's name marks it secret.
func IsSecret(name string) bool {
	n := strings.ToUpper(name)
	for _, s := range []string{"SECRET", "TOKEN", "PASSWORD", "PASSWD", "API_KEY", "PRIVATE_KEY", "CREDENTIAL"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return strings.HasSuffix(n, "_KEY") || (strings.HasSuffix(n, "_URL") && strings.Contains(n, "DATABASE"))
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
