// Package web is the app's HTTP side: the page, the JSON API, /healthz,
// per-client rate limiting, request logs without bodies, and a graceful
// shutdown that lets in-flight requests finish.
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/pierhq/pier/sample-app/config"
	"github.com/pierhq/pier/sample-app/errtrack"
	"github.com/pierhq/pier/sample-app/flags"
	"github.com/pierhq/pier/sample-app/nlp"
)

// Title is the app's name as the page shows it.
const Title = "Text Lens"

// maxSentences caps the summary length a request may ask for.
const maxSentences = 10

// Server serves the app.
type Server struct {
	cfg      config.Config
	analyzer *nlp.Analyzer
	limiter  *limiter
	log      *log.Logger
	now      func() time.Time
	// Errors, when set, gets the errors a request could not recover from
	// (a failed page, a panic), with the release pier runs.
	Errors *errtrack.Reporter
	// Flags are the feature flags in force (FLAG_<NAME> config vars); the
	// zero Set has every flag off.
	Flags flags.Set
}

// New returns the app's server; logger receives one line per request.
func New(cfg config.Config, a *nlp.Analyzer, logger *log.Logger) *Server {
	s := &Server{cfg: cfg, analyzer: a, log: logger, now: time.Now}
	if cfg.RateLimitRPS > 0 {
		s.limiter = newLimiter(cfg.RateLimitRPS, cfg.RateLimitBurst)
	}
	return s
}

// Handler returns the routes wrapped in request logging.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("POST /api/analyze", s.rateLimited(http.HandlerFunc(s.analyze)))
	mux.Handle("GET /api/info", s.rateLimited(http.HandlerFunc(s.info)))
	mux.HandleFunc("/api/analyze", methodNotAllowed("POST"))
	mux.HandleFunc("/api/info", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: try POST /api/analyze or GET /api/info")
	})
	return s.logRequests(mux)
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+allow)
	}
}

type analyzeRequest struct {
	Text      string `json:"text"`
	Sentences int    `json:"sentences,omitempty"`
}

type analyzeResponse struct {
	nlp.Result
	Model     string  `json:"model"`
	Release   string  `json:"release"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

func (s *Server) analyze(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	// JSON escapes may spell one byte of text in up to six bytes.
	r.Body = http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxTextBytes)*6+1024)
	var req analyzeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, s.tooLong())
			return
		}
		writeError(w, http.StatusBadRequest, `the body must be JSON like {"text": "..."}: `+err.Error())
		return
	}
	switch {
	case len(req.Text) > s.cfg.MaxTextBytes:
		writeError(w, http.StatusRequestEntityTooLarge, s.tooLong())
		return
	case strings.TrimSpace(req.Text) == "":
		writeError(w, http.StatusBadRequest, `"text" is empty: send some text to analyze`)
		return
	case req.Sentences < 0 || req.Sentences > maxSentences:
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`"sentences" must be between 1 and %d`, maxSentences))
		return
	}
	n := req.Sentences
	if n == 0 {
		n = s.cfg.SummarySentences
	}
	res := analyzeResponse{
		Result:  s.analyzer.AnalyzeWith(req.Text, n, s.summaryMethod(w, r)),
		Model:   s.analyzer.Model,
		Release: s.cfg.ReleaseLabel(),
	}
	res.ElapsedMS = float64(s.now().Sub(start).Microseconds()) / 1000
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) tooLong() string {
	return fmt.Sprintf("the text is too long: the limit is %d bytes (MAX_TEXT_BYTES); send a shorter text", s.cfg.MaxTextBytes)
}

// Info is what GET /api/info returns.
type Info struct {
	App     string    `json:"app"`
	Release string    `json:"release"`
	Slot    string    `json:"slot,omitempty"`
	Dyno    string    `json:"dyno,omitempty"`
	Model   string    `json:"model"`
	Models  []string  `json:"models"`
	Stats   nlp.Stats `json:"stats"`
	Limits  Limits    `json:"limits"`
	Storage string    `json:"storage"` // where the worker's queue and results are: postgres or files
}

// Limits are the request limits in force.
type Limits struct {
	MaxTextBytes   int     `json:"max_text_bytes"`
	RateLimitRPS   float64 `json:"rate_limit_rps"`
	RateLimitBurst int     `json:"rate_limit_burst"`
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Info{
		App:     Title,
		Release: s.cfg.ReleaseLabel(),
		Slot:    s.cfg.Slot,
		Dyno:    s.cfg.Dyno,
		Model:   s.analyzer.Model,
		Models:  nlp.ModelNames(),
		Stats:   s.analyzer.Stats,
		Limits:  Limits{s.cfg.MaxTextBytes, s.cfg.RateLimitRPS, s.cfg.RateLimitBurst},
		Storage: s.cfg.Storage(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
