package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
)

// Security headers every answer carries unless the app sets its own or its
// Route.Headers overrides them. Values are shared: never modify them in place.
var (
	defaultSecurityHeaders = [...]struct {
		key string
		val []string
	}{
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"X-Frame-Options", []string{"SAMEORIGIN"}},
		{"Referrer-Policy", []string{"strict-origin-when-cross-origin"}},
	}
	hstsValue = []string{"max-age=31536000"}
)

const hstsKey = "Strict-Transport-Security"

// The rules for the head of an answer, written once for both engines:
// passAnswerField says which of the instance's fields reach the client as
// sent, addAnswerFields adds the proxy's own. Front's goroutines apply them
// to an http.Header (setAnswerHeader), the event loops as they write the
// head (loop_answer_linux.go).

// passAnswerField reports whether the answer's field k reaches the client
// as the instance sent it: not a hop-by-hop one (conn holds the answer's
// Connection values), not the request ID, not one rt sets or deletes.
func passAnswerField(rt *route, k string, conn []string) bool {
	return !hopField(k, conn) && !proxysAnswerField(rt, k)
}

// proxysAnswerField reports whether the proxy sets the answer's field k
// itself: the request ID, and the fields rt sets or deletes.
func proxysAnswerField(rt *route, k string) bool {
	return k == "X-Request-Id" || rt != nil && rt.overrides(k)
}

// addAnswerFields calls add with the fields the proxy adds to an answer of
// rt: the security headers the answer lacks (has says which it has), HSTS
// on TLS requests only, unless the route sets or deletes them; the route's
// own values; the request ID; the split cookie a client needs (cookie, ""
// for none), besides the instance's own cookies.
func addAnswerFields(rt *route, tls bool, id []string, cookie string, has func(k string) bool, add func(k string, vv []string)) {
	for _, d := range defaultSecurityHeaders {
		if !has(d.key) && (rt == nil || !rt.overrides(d.key)) {
			add(d.key, d.val)
		}
	}
	if tls && !has(hstsKey) && (rt == nil || !rt.overrides(hstsKey)) {
		add(hstsKey, hstsValue)
	}
	if rt != nil {
		for _, kv := range rt.setHdr {
			add(kv.key, kv.val)
		}
	}
	add("X-Request-Id", id)
	if cookie != "" {
		add("Set-Cookie", []string{setCookieField(cookie, tls)})
	}
}

// setAnswerHeader applies the answer rules to h, the header of an answer
// whose hop-by-hop fields are the caller's concern (an upgrade keeps them).
func (st *reqState) setAnswerHeader(h http.Header) {
	for k := range h {
		if proxysAnswerField(st.route, k) {
			delete(h, k)
		}
	}
	st.addAnswerFields(h)
}

// addAnswerFields adds the proxy's fields to h, an answer's header that
// holds only the fields passAnswerField passes.
func (st *reqState) addAnswerFields(h http.Header) {
	addAnswerFields(st.route, st.tls, st.fwd[3:4:4], st.setCookie, func(k string) bool {
		_, ok := h[k]
		return ok
	}, func(k string, vv []string) {
		if k == "Set-Cookie" {
			h[k] = append(h[k], vv...)
			return
		}
		h[k] = vv
	})
}

// overrides reports whether the route sets or deletes header k itself.
func (rt *route) overrides(k string) bool {
	for _, kv := range rt.setHdr {
		if kv.key == k {
			return true
		}
	}
	for _, d := range rt.delHdr {
		if d == k {
			return true
		}
	}
	return false
}

type headerValue struct {
	key string
	val []string
}

func canonicalHeader(k string) string { return http.CanonicalHeaderKey(strings.TrimSpace(k)) }

// maxRequestIDLen bounds an incoming X-Request-ID that is kept.
const maxRequestIDLen = 200

// requestID keeps a sane incoming id or makes a new one.
func requestID(in string) string {
	if in != "" && len(in) <= maxRequestIDLen && validRequestID(in) {
		return in
	}
	return newRequestID()
}

func validRequestID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newRequestID returns a random UUID (version 4).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// clientOf returns the client a request from peer is for: peer itself,
// or when peer is a trusted proxy, what its X-Forwarded-For values say.
func (p *Proxy) clientOf(peer netip.Addr, xff []string) (client netip.Addr, trusted bool) {
	if !p.trusted(peer) {
		return peer, false
	}
	client = peer
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		for list != "" {
			j := strings.LastIndexByte(list, ',')
			item := strings.TrimSpace(list[j+1:])
			list = list[:max(j, 0)]
			a, err := netip.ParseAddr(item)
			if err != nil {
				return client, true
			}
			client = a.Unmap()
			if !p.trusted(client) {
				return client, true
			}
		}
	}
	return client, true
}

// addrString is a.String(), without an allocation when remoteAddr (the
// address and port a was parsed from) already spells a: IPv4 has one
// spelling that netip accepts.
func addrString(a netip.Addr, remoteAddr string) string {
	if a.Is4() {
		if i := strings.LastIndexByte(remoteAddr, ':'); i > 0 && remoteAddr[0] != '[' {
			return remoteAddr[:i]
		}
	}
	return a.String()
}

func (p *Proxy) trusted(a netip.Addr) bool {
	for _, pr := range p.cfg.TrustedProxies {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}
