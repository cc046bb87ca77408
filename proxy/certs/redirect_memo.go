package certs

import (
	"sync"
	"time"
)

// Whether plain HTTP for a host goes to HTTPS is asked on every plain
// request the proxy serves, and finding out takes the Manager's lock and a
// search of certmagic's cache (4% of the agent's CPU under load). The
// answer is remembered for redirectMemoTTL, and forgotten at once when a
// host is managed or forgotten and at every certificate event, so a new
// certificate's host redirects as soon as certmagic reports it cached (a
// certificate certmagic caches without a word, within redirectMemoTTL).

const (
	redirectMemoTTL = time.Second
	redirectMemoMax = 4096 // hosts remembered; any client can name one
)

// redirectMemo remembers recent answers of Manager.redirects.
type redirectMemo struct {
	mu    sync.RWMutex
	gen   uint64 // grows at each clear
	hosts map[string]redirectSeen
}

type redirectSeen struct {
	redirect bool
	until    time.Time
}

// get returns the answer remembered for host, and the generation to put a
// new answer with.
func (m *redirectMemo) get(host string, now time.Time) (redirect, ok bool, gen uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.hosts[host]
	if ok && now.Before(s.until) {
		return s.redirect, true, m.gen
	}
	return false, false, m.gen
}

// put remembers an answer found in generation gen, unless a clear came
// since (the answer may be out of date).
func (m *redirectMemo) put(host string, redirect bool, gen uint64, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return
	}
	if m.hosts == nil || len(m.hosts) >= redirectMemoMax {
		m.hosts = map[string]redirectSeen{}
	}
	m.hosts[host] = redirectSeen{redirect: redirect, until: now.Add(redirectMemoTTL)}
}

// clear forgets every answer.
func (m *redirectMemo) clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.hosts = nil
}
