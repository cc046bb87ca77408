package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/pierhq/pier/sample-app/flags"
	"github.com/pierhq/pier/sample-app/nlp"
)

//go:embed static
var staticFiles embed.FS

var pageTemplate = template.Must(template.New("index.html").
	Funcs(template.FuncMap{"pct": func(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }}).
	ParseFS(staticFiles, "static/index.html"))

type pageData struct {
	Title     string
	Release   string
	Local     bool
	Model     string
	Stats     nlp.Stats
	MaxBytes  int
	Sentences int
	Summary   string // the visitor's summary method: nlp.TextRank or nlp.Centroid
	NewShare  int    // the percent of visitors in the NEW_SUMMARY flag
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	method := s.summaryMethod(w, r)
	err := pageTemplate.Execute(&buf, pageData{
		Title:     Title,
		Release:   s.cfg.ReleaseLabel(),
		Local:     s.cfg.Release == "",
		Model:     s.analyzer.Model,
		Stats:     s.analyzer.Stats,
		MaxBytes:  s.cfg.MaxTextBytes,
		Sentences: s.cfg.SummarySentences,
		Summary:   method,
		NewShare:  s.Flags.Percent(flags.NewSummary),
	})
	if err != nil {
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		s.log.Printf("web: rendering the page: %v", err)
		s.report(r, fmt.Errorf("rendering the page: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:")
	w.Write(buf.Bytes())
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}
