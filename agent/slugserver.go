package agent

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/pierhq/pier/scheduler/nomad"
)

// slugURLTTL is how long a signed slug URL stays valid: long enough for a
// Nomad client to fetch it when an allocation is placed or replaced.
const slugURLTTL = 24 * time.Hour

// slugKey signs slug URLs; it is derived from the agent's secret key, so
// it survives restarts and never equals the key that seals secrets.
func (a *Agent) slugKey() []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("pier slug URLs"))
	return m.Sum(nil)
}

// slugURL is the signed, expiring URL at which a remote scheduler's hosts
// fetch a slug from this agent; "" for the local scheduler.
func (a *Agent) slugURL(slugID string) string {
	if a.cfg.Scheduler != "nomad" || slugID == "" {
		return ""
	}
	base := a.apiURL
	if a.cfg.AdvertiseAddr != "" {
		base = "http://" + a.cfg.AdvertiseAddr
	}
	return nomad.SignSlugURL(base, slugID, a.slugKey(), slugURLTTL)
}

// serveSlug answers GET /slugs/ID.tar.gz for a URL signed by slugURL. It
// needs no API token: the signature is the permission, for one slug, for a
// while.
func (a *Agent) serveSlug(w http.ResponseWriter, r *http.Request) {
	id, err := nomad.VerifySlugURL(r, a.slugKey())
	if err != nil {
		code := http.StatusForbidden
		if errors.Is(err, nomad.ErrSlugURLExpired) {
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
