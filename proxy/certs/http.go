package certs

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPHandler wraps the plain-HTTP handler: it answers HTTP-01 challenges,
// redirects (308) to HTTPS every host that has a certificate being served,
// and passes everything else to next, so a host keeps working over plain
// HTTP until its certificate arrives.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return m.issuer.HTTPChallengeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := normalizeHost(hostOnly(r.Host))
		if host != "" && m.redirects(host) {
			http.Redirect(w, r, m.httpsURL(host, r), http.StatusPermanentRedirect)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// Passes reports whether HTTPHandler hands a request for host and path to
// its next handler as it is: not an ACME challenge, not for a host it
// redirects to HTTPS.
func (m *Manager) Passes(host, path string) bool {
	if strings.HasPrefix(path, "/.well-known/acme-challenge/") {
		return false
	}
	h := normalizeHost(hostOnly(host))
	return h == "" || !m.redirects(h)
}

// redirects reports whether plain HTTP for host goes to HTTPS: a
// certificate covering it is being served (remembered a short while:
// redirect_memo.go).
func (m *Manager) redirects(host string) bool {
	now := time.Now()
	redirect, ok, gen := m.redirectMemo.get(host, now)
	if ok {
		return redirect
	}
	served, _ := m.serves(host)
	redirect = served && m.cachedCert(host) != nil
	m.redirectMemo.put(host, redirect, gen, now)
	return redirect
}

// httpsURL is r's URL on the HTTPS listener.
func (m *Manager) httpsURL(host string, r *http.Request) string {
	if p := m.conf.HTTPSPort; p != 0 && p != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return "https://" + host + r.URL.RequestURI()
}

func hostOnly(hostport string) string {
	if !strings.Contains(hostport, ":") {
		return hostport // SplitHostPort's error would be made for nothing
	}
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
