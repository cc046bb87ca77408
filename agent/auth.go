package agent

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// authenticate checks a token secret from the client at ip. It refuses a
// client that failed too often lately (errTooManyFailures, with how long to
// wait), counts every failed check against ip, and slows the answer to a
// client that keeps failing.
func (a *Agent) authenticate(secret, ip string) (*principal, error) {
	if wait := a.guard.blocked(ip); wait > 0 {
		return nil, &refusedError{wait: wait}
	}
	if secret == "" {
		return nil, errNoToken
	}
	tok, err := a.store.VerifyToken(secret)
	if err != nil {
		time.Sleep(a.guard.fail(ip))
		if errors.Is(err, store.ErrTokenExpired) {
			return nil, err
		}
		return nil, errBadToken
	}
	return tokenPrincipal(tok), nil
}

var (
	errNoToken  = errors.New("an API token is required")
	errBadToken = errors.New("the API token is not valid")
)

// refusedError is a client refused for its failed token checks.
type refusedError struct{ wait time.Duration }

func (e *refusedError) Error() string {
	return "too many failed token checks from this address: try again in " + e.wait.Round(time.Second).String()
}

// writeAuthError answers a failed authentication: 429 with Retry-After for
// a refused client, 401 otherwise.
func writeAuthError(w http.ResponseWriter, err error) {
	var re *refusedError
	if errors.As(err, &re) {
		w.Header().Set("Retry-After", strconv.Itoa(int(re.wait.Round(time.Second)/time.Second)+1))
		writeJSON(w, http.StatusTooManyRequests, api.Error{Message: err.Error()})
		return
	}
	writeJSON(w, http.StatusUnauthorized, api.Error{Message: err.Error()})
}

// guarded serves one API route: it authenticates the bearer token, checks
// the route's need against the token's grant, records changes in the audit
// log, and calls the handler.
func (a *Agent) guarded(rt apiRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := a.clientIP(r)
		secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p, err := a.authenticate(secret, ip)
		if err != nil {
			writeAuthError(w, err)
			return
		}
		r = r.WithContext(withPrincipal(r.Context(), p))
		if isChange(r.Method) {
			rec := a.startAudit(w, r, p, rt.pattern, ip)
			defer rec.finish()
			w, r = rec, rec.req
		}
		if err := p.check(rt.need, r.PathValue("app")); err != nil {
			writeError(w, err)
			return
		}
		defer func() {
			if v := recover(); v != nil {
				a.sentry.recovered(rt.pattern, v)
				panic(v)
			}
		}()
		if err := rt.handle(a, w, r); err != nil {
			if statusOf(err) == http.StatusInternalServerError {
				a.sentry.error(rt.pattern, err)
			}
			writeError(w, err)
		}
	})
}

// isChange reports whether a request of this method may change something.
func isChange(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// clientIP is the address of the client: the peer, or, when the peer is a
// trusted proxy, the last address of X-Forwarded-For that is not one.
func (a *Agent) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !a.trusted(peer) {
		return peer.String()
	}
	fwd := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(fwd) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(fwd[i]))
		if err != nil {
			break
		}
		if ip = ip.Unmap(); !a.trusted(ip) {
			return ip.String()
		}
	}
	return peer.String()
}

func (a *Agent) trusted(ip netip.Addr) bool {
	for _, p := range a.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
