package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/pierhq/pier/sample-app/flags"
	"github.com/pierhq/pier/sample-app/nlp"
)

// VisitorCookie keeps a browser's visitor id, so its feature flags stay the
// same from one request to the next.
const VisitorCookie = "textlens_visitor"

// SplitKeyHeader is pier's header for clients that keep no cookies (a
// user's or device's id): the app takes it as the visitor id, as pier's
// proxy does for its splits.
const SplitKeyHeader = "Pier-Split-Key"

// VariantHeader tells the client which summary method answered it:
// nlp.TextRank, or nlp.Centroid for a visitor in the NEW_SUMMARY flag. The
// request log line carries it as variant=.
const VariantHeader = "Text-Lens-Variant"

// summaryMethod is the summary method for this request's visitor, said in
// VariantHeader; a browser without a visitor id gets one in VisitorCookie.
func (s *Server) summaryMethod(w http.ResponseWriter, r *http.Request) string {
	method := nlp.TextRank
	if s.Flags.On(flags.NewSummary, visitor(w, r)) {
		method = nlp.Centroid
	}
	w.Header().Set(VariantHeader, method)
	return method
}

// visitor returns the request's visitor id: its VisitorCookie, else its
// SplitKeyHeader, else a new random id set in VisitorCookie for a year.
func visitor(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(VisitorCookie); err == nil && validVisitorID(c.Value) {
		return c.Value
	}
	if key := r.Header.Get(SplitKeyHeader); key != "" && len(key) <= 256 {
		return "key:" + key
	}
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	id := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: VisitorCookie, Value: id, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	})
	return id
}

func validVisitorID(v string) bool {
	if len(v) != 32 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil
}
