package agent

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"

	"github.com/pierhq/pier/scheduler"
)

// slugKey signs slug URLs; it is derived from the agent's secret key, so
// it survives restarts and never equals the key that seals secrets.
func (a *Agent) slugKey() []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("pier slug URLs"))
	return m.Sum(nil)
}

// slugURL is the signed, expiring URL at which a remote scheduler's hosts
// fetch a slug from this agent; "" for a scheduler whose hosts read the
// slugs from the agent's disk (local).
func (a *Agent) slugURL(slugID string) string {
	signer := slugSignerOf(a.sched)
	if signer == nil || slugID == "" {
		return ""
	}
	base := a.apiURL
	if a.cfg.AdvertiseAddr != "" {
		base = "http://" + a.cfg.AdvertiseAddr
	}
	return signer.SignSlugURL(base, slugID)
}

// serveSlug answers GET /slugs/ID.tar.gz for a URL signed by slugURL. It
// needs no API token: the signature is the permission, for one slug, for a
// while.
func (a *Agent) serveSlug(w http.ResponseWriter, r *http.Request) {
	signer := slugSignerOf(a.sched)
	if signer == nil {
		http.Error(w, "slugs are served only to the hosts of a remote scheduler", http.StatusForbidden)
		return
	}
	id, err := signer.VerifySlugURL(r)
	if err != nil {
		code := http.StatusForbidden
		if errors.Is(err, scheduler.ErrSlugURLExpired) {
			code = http.StatusGone
		}
		http.Error(w, err.Error(), code)
		return
	}
	f, err := os.Open(a.dirs.slugPath(id))
	if err != nil {
		http.Error(w, "no such slug: it may have been pruned; deploy again", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, "reading the slug failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	http.ServeContent(w, r, id+".tar.gz", st.ModTime(), f)
}
