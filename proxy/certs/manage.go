package certs

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
)

// hostState is what the event hooks learned about one managed host.
type hostState struct {
	cancel    context.CancelFunc // stops obtaining and retrying for this host
	obtaining bool
	lastError string
	failures  int // consecutive failed attempts
	nextRetry time.Time
}

// retrySchedule mirrors certmagic's backoff between failed attempts (the
// last interval repeats), so that Status can say when the next one is due.
var retrySchedule = []time.Duration{
	1 * time.Minute, 2 * time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 10 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 20 * time.Minute, 20 * time.Minute, 20 * time.Minute,
	30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute,
	30 * time.Minute, 30 * time.Minute,
	1 * time.Hour, 1 * time.Hour, 1 * time.Hour,
	2 * time.Hour, 2 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour,
}

func retryDelay(failures int) time.Duration {
	return retrySchedule[min(max(failures, 1), len(retrySchedule))-1]
}

// Manage makes sure the hosts have certificates: each one is loaded from
// storage or obtained in the background, retried with backoff on failure,
// and renewed ahead of expiry. It never blocks on the ACME server.
func (m *Manager) Manage(ctx context.Context, hosts []string) {
	for _, h := range hosts {
		m.manage(ctx, normalizeHost(h), true)
	}
}

// manage starts managing host unless it already is. ctx only carries
// values: management lasts until Forget or Close. Only an explicit call
// (Manage) brings back a forgotten host.
func (m *Manager) manage(ctx context.Context, host string, explicit bool) {
	if !certmagic.SubjectQualifiesForCert(host) {
		m.logf("certs: not managing %q: not a name a certificate can be issued for", host)
		return
	}
	m.mu.Lock()
	if explicit {
		delete(m.forgotten, host)
	}
	// A host a managed wildcard covers is served by the wildcard's
	// certificate: it gets none of its own.
	if m.closed || m.forgotten[host] || m.hosts[host] != nil || m.coveringLocked(host) != "" {
		m.mu.Unlock()
		return
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(m.ctx, cancel)
	m.hosts[host] = &hostState{cancel: func() { stop(); cancel() }}
	m.mu.Unlock()
	m.redirectMemo.clear()
	magic := m.configFor(host)
	if magic == nil {
		m.failed(host, errNoDNS)
		return
	}
	if err := magic.ManageAsync(hctx, []string{host}); err != nil {
		m.failed(host, err)
	}
}

// Forget stops managing host and serving its certificate (until Manage is
// called for it again). The certificate stays in storage.
func (m *Manager) Forget(host string) {
	host = normalizeHost(host)
	m.mu.Lock()
	st := m.hosts[host]
	delete(m.hosts, host)
	m.forgotten[host] = true
	m.mu.Unlock()
	if st != nil {
		st.cancel()
	}
	m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: host}})
	m.redirectMemo.clear()
}

// Status reports on the given hosts, or on every managed host (sorted)
// when none is given.
func (m *Manager) Status(hosts ...string) []Status {
	m.mu.Lock()
	if len(hosts) == 0 {
		for h := range m.hosts {
			hosts = append(hosts, h)
		}
		slices.Sort(hosts)
	}
	out := make([]Status, 0, len(hosts))
	for _, h := range hosts {
		h = normalizeHost(h)
		s := Status{Host: h, Status: StatusNone}
		st := m.hosts[h]
		if st == nil && !m.forgotten[h] {
			if s.Wildcard = m.coveringLocked(h); s.Wildcard != "" {
				st = m.hosts[s.Wildcard]
			}
		}
		if st != nil {
			s.Status, s.Challenge = StatusPending, ChallengeHTTP
			if IsWildcard(h) || s.Wildcard != "" {
				s.Challenge = ChallengeDNS01
			}
			if st.lastError != "" {
				s.Status = StatusFailing
				s.LastError, s.NextRetry = st.lastError, st.nextRetry
			}
		}
		out = append(out, s)
	}
	m.mu.Unlock()
	for i := range out {
		if out[i].Status == StatusNone {
			continue
		}
		if leaf := m.cachedLeaf(out[i].Host); leaf != nil {
			out[i].Status = StatusValid
			out[i].Issuer = issuerName(leaf)
			out[i].NotAfter = leaf.NotAfter
		}
	}
	return out
}

// coveringLocked is the managed wildcard that covers host ("*.b.c" covers
// "a.b.c", one label only), or "" when there is none or host is managed
// itself. m.mu is held.
func (m *Manager) coveringLocked(host string) string {
	if IsWildcard(host) || m.hosts[host] != nil {
		return ""
	}
	if _, parent, found := strings.Cut(host, "."); found && m.hosts["*."+parent] != nil {
		return "*." + parent
	}
	return ""
}

// cachedLeaf returns the unexpired certificate being served for host.
func (m *Manager) cachedLeaf(host string) *x509.Certificate {
	var best *x509.Certificate
	for _, c := range m.cache.AllMatchingCertificates(host) {
		if c.Leaf == nil || c.Expired() {
			continue
		}
		if best == nil || c.Leaf.NotAfter.After(best.NotAfter) {
			best = c.Leaf
		}
	}
	return best
}

// issuerName names the CA that signed leaf the way people know it: the
// organization ("Let's Encrypt") rather than the intermediate ("R11").
func issuerName(leaf *x509.Certificate) string {
	if len(leaf.Issuer.Organization) > 0 {
		return leaf.Issuer.Organization[0]
	}
	if leaf.Issuer.CommonName != "" {
		return leaf.Issuer.CommonName
	}
	return leaf.Issuer.String()
}

// isTrackedEvent tells certmagic which events to emit (skipping the one
// fired on every handshake).
func isTrackedEvent(event string) bool {
	switch event {
	case "cert_obtaining", "cert_obtained", "cert_failed":
		return true
	}
	return false
}

// onEvent is certmagic's event hook: it records what happened to a host
// and passes a one-line message on to Config.OnEvent.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	m.redirectMemo.clear() // a certificate may have come or gone
	host, _ := data["identifier"].(string)
	if host == "" {
		return nil
	}
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtaining":
		if m.update(host, func(st *hostState) { st.obtaining = true }) {
			verb := "obtaining"
			if renewal {
				verb = "renewing"
			}
			m.emit(host, verb+" certificate from "+m.issuer.CA)
		}
	case "cert_obtained":
		if m.update(host, func(st *hostState) { *st = hostState{cancel: st.cancel} }) {
			msg := "certificate obtained"
			if renewal {
				msg = "certificate renewed"
			}
			m.emit(host, msg)
		}
	case "cert_failed":
		err, _ := data["error"].(error)
		if err == nil {
			err = fmt.Errorf("unknown error")
		}
		m.failedRenewal(host, err, renewal)
	}
	return nil
}

func (m *Manager) failed(host string, err error) { m.failedRenewal(host, err, false) }

func (m *Manager) failedRenewal(host string, err error, renewal bool) {
	var next time.Time
	ok := m.update(host, func(st *hostState) {
		st.obtaining = false
		st.failures++
		st.lastError = err.Error()
		st.nextRetry = time.Now().Add(retryDelay(st.failures)).Truncate(time.Second)
		next = st.nextRetry
	})
	if !ok {
		return
	}
	verb := "obtaining"
	if renewal {
		verb = "renewing"
	}
	m.emit(host, fmt.Sprintf("%s certificate failed: %v; next attempt at %s", verb, err, next.UTC().Format(time.RFC3339)))
}

// update applies f to host's state; false if the host is not managed
// (forgotten, or the Manager is closed).
func (m *Manager) update(host string, f func(*hostState)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.hosts[host]
	if st == nil || m.closed {
		return false
	}
	f(st)
	return true
}

func (m *Manager) emit(host, msg string) {
	if m.conf.OnEvent != nil {
		m.conf.OnEvent(host, msg)
		return
	}
	m.logf("certs: %s: %s", host, msg)
}

func (m *Manager) logf(format string, args ...any) {
	if m.conf.Logf != nil {
		m.conf.Logf(format, args...)
	}
}

// normalizeHost lower-cases host and drops a trailing dot.
func normalizeHost(host string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
}
