package static

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Command is what `pier static-serve DIR` runs: it serves DIR on $PORT
// until ctx ends, with the single-page-app fallback when PIER_STATIC_SPA
// is set to 1 or true.
func Command(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: pier static-serve DIR")
	}
	port := os.Getenv("PORT")
	if port == "" {
		return fmt.Errorf("static-serve: $PORT is not set")
	}
	spa := os.Getenv("PIER_STATIC_SPA")
	return ServeStatic(ctx, args[0], spa == "1" || strings.EqualFold(spa, "true"), net.JoinHostPort("", port))
}

// ServeStatic serves the files under dir on addr until ctx ends.
func ServeStatic(ctx context.Context, dir string, spa bool, addr string) error {
	h, err := Handler(dir, spa)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("static-serve: %w", err)
	}
	return nil
}

// Handler serves dir: ETags, revalidation for HTML and a day of caching for
// the rest, gzip for text, index.html for directories, 404.html when there
// is one, and with spa, index.html for unknown paths without an extension.
// Nothing outside dir is served, symlinks included.
func Handler(dir string, spa bool) (http.Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("static-serve: %w", err)
	}
	return &server{root: root, spa: spa}, nil
}

type server struct {
	root *os.Root
	spa  bool
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "."
	}
	f, fi, err := s.open(name)
	if err == nil && fi.IsDir() {
		f.Close()
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
			return
		}
		f, fi, err = s.open(path.Join(name, "index.html"))
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusNotFound
		if s.spa && path.Ext(name) == "" {
			status = http.StatusOK
			f, fi, err = s.open("index.html")
		} else {
			f, fi, err = s.open("404.html")
		}
		if err != nil {
			http.NotFound(w, r)
			return
		}
	}
	defer f.Close()
	s.serveFile(w, r, f, fi, status)
}

func (s *server) open(name string) (*os.File, fs.FileInfo, error) {
	f, err := s.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !(fi.IsDir() || fi.Mode().IsRegular()) {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, fi, nil
}

func (s *server) serveFile(w http.ResponseWriter, r *http.Request, f *os.File, fi fs.FileInfo, status int) {
	h := w.Header()
	ctype := mime.TypeByExtension(filepath.Ext(fi.Name()))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	if strings.HasPrefix(ctype, "text/html") {
		h.Set("Cache-Control", "no-cache")
	} else {
		h.Set("Cache-Control", "public, max-age=86400")
	}
	etag := fmt.Sprintf(`"%x-%x`, fi.Size(), fi.ModTime().UnixNano())
	gz := compressible(ctype) && fi.Size() > 512 && acceptsGzip(r)
	if compressible(ctype) {
		h.Add("Vary", "Accept-Encoding")
	}
	if gz {
		etag += `-gz"`
	} else {
		etag += `"`
	}
	h.Set("ETag", etag)
	if status == http.StatusOK && !gz {
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
		return
	}
	if status == http.StatusOK && matches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if !gz {
		h.Set("Content-Length", fmt.Sprint(fi.Size()))
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = io.Copy(w, f)
		}
		return
	}
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	zw := gzip.NewWriter(w)
	if _, err := io.Copy(zw, f); err == nil {
		_ = zw.Close()
	}
}

func compressible(ctype string) bool {
	for _, p := range []string{"text/", "application/javascript", "text/javascript", "application/json", "image/svg+xml", "application/xml", "application/wasm"} {
		if strings.HasPrefix(ctype, p) {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}

func matches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
