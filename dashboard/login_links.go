package dashboard

import (
	"errors"
	"sync"
	"time"
)

// A login link is what `pier dashboard` prints: a one-time code, good for
// LoginLinkTTL, that signs a browser in with the token that asked for it.
// The code is not the token, and it is gone once used. Opening the link
// (a GET, which any site can make a browser do) only shows a page naming
// the token; signing in is its button's POST, which must come from that
// page (origin and CSRF checks), so no one can sign a browser in to their
// account behind the person's back (login CSRF).

const (
	LoginLinkTTL = 2 * time.Minute
	maxLinks     = 1000
)

type loginLink struct {
	token   string
	name    string // the token's name, shown before signing in
	expires time.Time
}

type loginLinks struct {
	mu     sync.Mutex
	byCode map[string]loginLink
	ttl    time.Duration
	now    func() time.Time
}

func newLoginLinks(ttl time.Duration, now func() time.Time) *loginLinks {
	return &loginLinks{byCode: map[string]loginLink{}, ttl: ttl, now: now}
}

var errTooManyLinks = errors.New("too many unused login links: wait two minutes and ask again")

// add makes a code for token, called name.
func (ls *loginLinks) add(token, name string) (string, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := ls.now()
	for c, l := range ls.byCode {
		if !now.Before(l.expires) {
			delete(ls.byCode, c)
		}
	}
	if len(ls.byCode) >= maxLinks {
		return "", errTooManyLinks
	}
	code := randomID()
	ls.byCode[code] = loginLink{token: token, name: name, expires: now.Add(ls.ttl)}
	return code, nil
}

// peek returns the name of the token of code, leaving the code unused;
// ok is false when the code is unknown, used or expired.
func (ls *loginLinks) peek(code string) (name string, ok bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, found := ls.byCode[code]
	if !found || !ls.now().Before(l.expires) {
		return "", false
	}
	return l.name, true
}

// take returns the token of code and forgets the code; "" when the code is
// unknown, used or expired.
func (ls *loginLinks) take(code string) string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.byCode[code]
	delete(ls.byCode, code)
	if !ok || !ls.now().Before(l.expires) {
		return ""
	}
	return l.token
}

// NewLoginLink returns the path of a one-time login link for token (which
// the caller has verified) called name, to be joined to the agent's URL.
func (d *Dashboard) NewLoginLink(token, name string) (string, error) {
	code, err := d.links.add(token, name)
	if err != nil {
		return "", err
	}
	return Prefix + "/link/" + code, nil
}
