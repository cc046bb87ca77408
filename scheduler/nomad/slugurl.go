package nomad

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pierhq/pier/scheduler"
)

// Errors of VerifySlugURL.
var (
	ErrSlugURLExpired   = scheduler.ErrSlugURLExpired
	ErrSlugURLSignature = errors.New("slug URL signature does not match")
)

// SlugURLTTL is how long a signed slug URL stays valid by default: long
// enough for a Nomad client to fetch it when an allocation is placed or
// replaced.
const SlugURLTTL = 24 * time.Hour

// SlugSigner signs and checks slug URLs with Key, the scheduler's
// scheduler.SlugURLSigner.
type SlugSigner struct {
	Key []byte
	TTL time.Duration // SlugURLTTL when 0
}

var (
	_ scheduler.SlugURLSigner = SlugSigner{}
	_ scheduler.SlugURLSigner = (*Scheduler)(nil)
)

// SignSlugURL signs the URL of slugID under base.
func (s SlugSigner) SignSlugURL(base, slugID string) string {
	ttl := s.TTL
	if ttl == 0 {
		ttl = SlugURLTTL
	}
	return SignSlugURL(base, slugID, s.Key, ttl)
}

// VerifySlugURL checks a request for a URL signed by SignSlugURL.
func (s SlugSigner) VerifySlugURL(r *http.Request) (string, error) {
	return VerifySlugURL(r, s.Key)
}

// SignSlugURL signs the URL at which Nomad fetches slugID from the agent.
func (s *Scheduler) SignSlugURL(base, slugID string) string {
	return SlugSigner{Key: s.opts.SlugKey}.SignSlugURL(base, slugID)
}

// VerifySlugURL checks a request for a slug URL this scheduler signed.
func (s *Scheduler) VerifySlugURL(r *http.Request) (string, error) {
	return SlugSigner{Key: s.opts.SlugKey}.VerifySlugURL(r)
}

var slugIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`) })

// SignSlugURL returns the URL Nomad fetches a slug from: the agent's
// advertised base URL, "/slugs/ID.tar.gz", and a query with the expiry
// (Unix seconds) and an HMAC-SHA256 of both under key, which the agent's
// handler checks with VerifySlugURL.
func SignSlugURL(base, slugID string, key []byte, ttl time.Duration) string {
	exp := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	return strings.TrimRight(base, "/") + "/slugs/" + slugID + ".tar.gz?expires=" + exp + "&sig=" + slugSig(key, slugID, exp)
}

// VerifySlugURL checks the request for a slug made by SignSlugURL and
// returns the slug's ID. The request must be a GET or HEAD of
// .../slugs/ID.tar.gz with an unexpired, untampered signature.
func VerifySlugURL(r *http.Request, key []byte) (string, error) {
	if len(key) == 0 {
		return "", errors.New("slug URL: no signing key")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", fmt.Errorf("slug URL: method %s not allowed", r.Method)
	}
	dir, file := path.Split(r.URL.Path)
	id, ok := strings.CutSuffix(file, ".tar.gz")
	if !ok || !strings.HasSuffix(dir, "/slugs/") || !slugIDRE().MatchString(id) {
		return "", fmt.Errorf("slug URL: %q is not /slugs/ID.tar.gz", r.URL.Path)
	}
	q := r.URL.Query()
	exp, sig := q.Get("expires"), q.Get("sig")
	expAt, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return "", fmt.Errorf("slug URL: bad expires %q", exp)
	}
	if !hmac.Equal([]byte(sig), []byte(slugSig(key, id, exp))) {
		return "", ErrSlugURLSignature
	}
	if time.Now().Unix() > expAt {
		return "", fmt.Errorf("%w at %s", ErrSlugURLExpired, time.Unix(expAt, 0).UTC().Format(time.RFC3339))
	}
	return id, nil
}

func slugSig(key []byte, id, exp string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pier-slug\n" + id + "\n" + exp))
	return hex.EncodeToString(m.Sum(nil))
}
