package proxy

import (
	"net/http"
	"net/netip"
	"strings"
)

// The proxy's request policy, written once for both engines: Proxy.ServeHTTP
// on goroutines and the event loops (loop_*_linux.go) each read a request in
// their own way, then ask admit what to do with it. Everything an app or a
// client can tell apart (which app and instance, who the client is, the
// forwarding headers and request ID the instance sees, the proxy's own
// answers) follows from the decision admit makes; the engines differ only
// in how the bytes move.

// verdict is what the proxy does with a request.
type verdict uint8

const (
	forwardIt     verdict = iota // to st.backend, an instance of st.route
	toControl                    // the control host: the agent's API
	unknownHost                  // 404: no app at this host
	inMaintenance                // 503 with a page and Retry-After
	rateLimited                  // 429 with Retry-After
	bodyTooLarge                 // 413
	noInstance                   // 503: no healthy instance
)

// arrival is what admit reads from a request: where it came from and the
// headers that say who it is for.
type arrival struct {
	host     string     // the Host header, as sent
	peer     netip.Addr // the connection's address (unmapped), invalid when unknown
	remote   string     // the connection's address and port, as the engine has it
	tls      bool       // the client connected with TLS
	bodyLen  int64      // the body's length, -1 when not known beforehand
	xff      []string   // the X-Forwarded-For values
	fwdProto string     // the first X-Forwarded-Proto value
	fwdHost  string     // the first X-Forwarded-Host value
	inID     string     // the first X-Request-Id value
	split    string     // the split cookie's value, or the split key (split.go)
}

// readForwarding fills the forwarding fields of a from one header field;
// an engine that reads fields one at a time calls it with each of them.
func (a *arrival) readForwarding(key, value string) {
	switch key {
	case "X-Forwarded-For":
		a.xff = append(a.xff, value)
	case "X-Request-Id":
		if a.inID == "" {
			a.inID = value
		}
	case "X-Forwarded-Proto":
		if a.fwdProto == "" {
			a.fwdProto = value
		}
	case "X-Forwarded-Host":
		if a.fwdHost == "" {
			a.fwdHost = value
		}
	case "Cookie":
		if a.split == "" {
			a.split = splitCookieValue(value)
		}
	case SplitKeyHeader:
		if value != "" {
			a.split = splitKeyPrefix + value // over a cookie
		}
	}
}

// arrivalOf reads r's arrival.
func arrivalOf(r *http.Request) arrival {
	a := arrival{host: r.Host, remote: r.RemoteAddr, tls: r.TLS != nil, bodyLen: r.ContentLength,
		xff: r.Header["X-Forwarded-For"]}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		a.peer = ap.Addr().Unmap()
	}
	a.fwdProto = firstValue(r.Header["X-Forwarded-Proto"])
	a.fwdHost = firstValue(r.Header["X-Forwarded-Host"])
	a.inID = firstValue(r.Header["X-Request-Id"])
	for _, c := range r.Header["Cookie"] {
		if a.split == "" {
			a.split = splitCookieValue(c)
		}
	}
	if k := firstValue(r.Header[SplitKeyHeader]); k != "" {
		a.split = splitKeyPrefix + k
	}
	return a
}

func firstValue(vv []string) string {
	if len(vv) == 0 {
		return ""
	}
	return vv[0]
}

// admit decides what becomes of the request a describes. Unless it is for
// the control host, it fills st with who the client is, the request ID and
// the forwarding headers for the instance, the route and, when the verdict
// is forwardIt, the instance chosen. It takes a token from the client's
// rate limit.
func (p *Proxy) admit(st *reqState, a *arrival) verdict {
	host := normalizeHost(a.host)
	if host == p.control && p.control != "" {
		return toControl
	}
	st.tls = a.tls
	client, trusted := p.clientOf(a.peer, a.xff)
	st.peerIP, st.trustedPeer = addrString(a.peer, a.remote), trusted
	st.clientIP = st.peerIP
	if client != a.peer {
		st.clientIP = client.String()
	}
	st.requestID = requestID(a.inID)
	st.setForwarded(a)

	rt := p.table.Load().hosts[host]
	if rt == nil {
		return unknownHost
	}
	st.route = rt
	switch {
	case rt.Maintenance:
		return inMaintenance
	case rt.limiter != nil && !rt.limiter.allow(client):
		return rateLimited
	case a.bodyLen > p.cfg.MaxBodyBytes:
		return bodyTooLarge
	}
	st.chooseSide(rt, a.split)
	b := rt.pick(st.toSplit)
	if b == nil {
		return noInstance
	}
	st.backend = b
	return forwardIt
}

// refuse answers a request that admit did not let through with the
// proxy's own page.
func refuse(st *reqState, v verdict, host string) {
	switch v {
	case unknownHost:
		writePage(st, http.StatusNotFound, unknownHostPage, normalizeHost(host))
		st.errText = "no app at this host"
	case inMaintenance:
		st.Header().Set("Retry-After", "60")
		writePage(st, http.StatusServiceUnavailable, maintenancePage, st.route.App)
		st.errText = "maintenance"
	case rateLimited:
		st.Header().Set("Retry-After", st.route.limiter.retryAfter)
		writePage(st, http.StatusTooManyRequests, rateLimitedPage, st.route.App)
		st.errText = "rate limited"
	case bodyTooLarge:
		writePage(st, http.StatusRequestEntityTooLarge, tooLargePage, st.route.App)
		st.errText = "request body too large"
	case noInstance:
		writePage(st, http.StatusServiceUnavailable, noInstancePage, st.route.App)
		st.errText = "no instance running"
	}
}

// setForwarded fills st.fwd with the values of X-Forwarded-For,
// X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id and X-Real-IP (the
// client, past trusted proxies) for the instance. A trusted proxy's
// forwarding headers are kept and extended; a client's own X-Real-IP never
// reaches the instance.
func (st *reqState) setForwarded(a *arrival) {
	xff, proto, fwdHost := st.peerIP, "http", a.host
	if a.tls {
		proto = "https"
	}
	if st.trustedPeer {
		if len(a.xff) > 0 {
			xff = strings.Join(a.xff, ", ") + ", " + st.peerIP
		}
		if a.fwdProto == "http" || a.fwdProto == "https" {
			proto = a.fwdProto
		}
		if a.fwdHost != "" {
			fwdHost = a.fwdHost
		}
	}
	st.fwd = [5]string{xff, proto, fwdHost, st.requestID, st.clientIP}
}

// setForwardingHeaders puts the forwarding headers and the request ID in
// h, the header of the request to the instance.
func (st *reqState) setForwardingHeaders(h http.Header) {
	h["X-Forwarded-For"] = st.fwd[0:1:1]
	h["X-Forwarded-Proto"] = st.fwd[1:2:2]
	h["X-Forwarded-Host"] = st.fwd[2:3:3]
	h["X-Request-Id"] = st.fwd[3:4:4]
	h["X-Real-Ip"] = st.fwd[4:5:5]
}
