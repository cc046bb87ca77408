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
	"time"
)

// Errors of VerifySlugURL.
var (
	ErrSlugURLExpired   = errors.New("slug URL expired")
	ErrSlugURLSignature = errors.New("slug URL signature does not match")
)

var slugIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

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
	if !ok || !strings.HasSuffix(dir, "/slugs/") || !slugIDRE.MatchString(id) {
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
