package web

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"
)

// Serve serves h on ln until ctx ends, then stops accepting connections and
// waits up to drain for in-flight requests to finish.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, drain time.Duration, logger *log.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Printf("web: shutting down, letting in-flight requests finish (up to %s)", drain)
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("draining requests: %w", err)
	}
	logger.Printf("web: stopped")
	return nil
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequests logs one line per request: method, path (never the query,
// which may hold tokens), status, duration, client, request id and, for
// the page and the API's analyses, the variant (VariantHeader) that
// answered. Bodies and the request's headers are never logged.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				s.report(r, fmt.Errorf("panic: %v", v))
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		variant := ""
		if v := w.Header().Get(VariantHeader); v != "" {
			variant = " variant=" + v
		}
		s.log.Printf("web: method=%s path=%q status=%d duration=%s client=%s request_id=%q%s",
			r.Method, r.URL.Path, rec.status, s.now().Sub(start).Round(time.Microsecond), clientIP(r), r.Header.Get("X-Request-ID"), variant)
	})
}

// report sends err to the error tracker, if one is set, tagged with the
// request's path and id; a failure to report is logged, nothing more.
func (s *Server) report(r *http.Request, err error) {
	if s.Errors == nil {
		return
	}
	tags := map[string]string{"path": r.URL.Path, "request_id": r.Header.Get("X-Request-ID"), "dyno": s.cfg.Dyno}
	if rerr := s.Errors.Report(r.Context(), err, tags); rerr != nil {
		s.log.Printf("web: %v", rerr)
	}
}
