package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/pierhq/pier/api"
)

// Sessions live in the agent's memory only: a restart signs everyone out.
// The cookie holds a random id; the token stays on the server.

// maxSessions bounds the sessions kept: past it the oldest is dropped.
const maxSessions = 10000

// session is one signed-in browser.
type session struct {
	id      string
	token   string // the API token it signed in with
	name    string // the token's name
	grant   api.Grant
	csrf    string // the token every form of this session carries
	expires time.Time
}

// may reports whether the session's token has role on app (the pages
// leave out what it may not do; the API refuses it anyway).
func (s *session) may(role, app string) bool {
	covers := len(s.grant.Apps) == 0
	for _, a := range s.grant.Apps {
		covers = covers || a == app
	}
	return covers && rankOf(s.grant.Role) >= rankOf(role)
}

func rankOf(role string) int {
	for i, r := range api.Roles {
		if r == role {
			return i + 1
		}
	}
	return 0
}

type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	ttl  time.Duration
	now  func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{byID: map[string]*session{}, ttl: ttl, now: now}
}

// start makes a session for a verified token.
func (ss *sessions) start(token, name string, g api.Grant) *session {
	s := &session{id: randomID(), token: token, name: name, grant: g, csrf: randomID(), expires: ss.now().Add(ss.ttl)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweep()
	if len(ss.byID) >= maxSessions {
		var oldest *session
		for _, o := range ss.byID {
			if oldest == nil || o.expires.Before(oldest.expires) {
				oldest = o
			}
		}
		delete(ss.byID, oldest.id)
	}
	ss.byID[s.id] = s
	return s
}

// get returns the live session of id, or nil.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s == nil {
		return nil
	}
	if !ss.now().Before(s.expires) {
		delete(ss.byID, id)
		return nil
	}
	return s
}

// end forgets a session.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

// sweep drops expired sessions; the caller holds mu.
func (ss *sessions) sweep() {
	now := ss.now()
	for id, s := range ss.byID {
		if !now.Before(s.expires) {
			delete(ss.byID, id)
		}
	}
}

// randomID is 256 random bits, URL-safe.
func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics)
	return base64.RawURLEncoding.EncodeToString(b)
}

// equalSecret compares two secrets in constant time.
func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
