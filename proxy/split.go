package proxy

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Split sends Weight percent of an app's clients to the instances of Slot
// and the rest to the live slot. Each client draws a bucket (0–99) once and
// keeps it in a cookie, so it stays on one side while the weight holds; as
// the weight grows, clients only move from the live side to the split's,
// never back. The cookie names the split's release, so a new canary or A/B
// test draws anew.
type Split struct {
	Slot    string // the second slot; "" means no split
	Release int    // the release running in Slot
	Weight  int    // percent of clients sent to Slot, 0–100
}

// SplitCookie is the cookie that keeps a client on one side of a split.
const SplitCookie = "pier_canary"

// SplitKeyHeader lets a client that keeps no cookies (an API client) stay
// on one side: the same key, a user's id for example, always draws the
// same bucket.
const SplitKeyHeader = "Pier-Split-Key"

// splitKeyPrefix marks a bucket drawn from SplitKeyHeader in arrival.split.
const splitKeyPrefix = "\x00key:"

// splitCookieAge is how long a client keeps its bucket: a day.
const splitCookieAge = "86400"

func (s Split) active() bool { return s.Slot != "" && s.Weight > 0 }

// side decides whether a client goes to the split's slot. cookie is the
// value of the client's SplitCookie ("" without one), or its
// SplitKeyHeader after splitKeyPrefix; set is the cookie value to send back
// when the client has neither that fits this split.
func (s Split) side(cookie string) (toSplit bool, set string) {
	if key, ok := strings.CutPrefix(cookie, splitKeyPrefix); ok {
		h := fnv.New32a()
		h.Write([]byte(strconv.Itoa(s.Release) + "." + key))
		return int(h.Sum32()%100) < s.Weight, ""
	}
	bucket, ok := s.bucketOf(cookie)
	if !ok {
		bucket = rand.IntN(100) // #nosec G404 -- a traffic share, not a secret
		set = strconv.Itoa(s.Release) + "." + strconv.Itoa(bucket)
	}
	return bucket < s.Weight, set
}

// bucketOf reads "<release>.<bucket>", for this split's release only.
func (s Split) bucketOf(cookie string) (int, bool) {
	rel, b, ok := strings.Cut(cookie, ".")
	if !ok || rel != strconv.Itoa(s.Release) {
		return 0, false
	}
	n, err := strconv.Atoi(b)
	if err != nil || n < 0 || n > 99 {
		return 0, false
	}
	return n, true
}

// splitCookieValue returns the value of SplitCookie in a Cookie header
// field, or "".
func splitCookieValue(field string) string {
	for field != "" {
		var part string
		part, field, _ = strings.Cut(field, ";")
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && name == SplitCookie {
			return strings.Trim(val, `"`)
		}
	}
	return ""
}

// setCookieField is the Set-Cookie value that keeps a client's bucket.
func setCookieField(value string, tls bool) string {
	v := SplitCookie + "=" + value + "; Path=/; Max-Age=" + splitCookieAge + "; HttpOnly; SameSite=Lax"
	if tls {
		v += "; Secure"
	}
	return v
}

// chooseSide sets st.toSplit for a request to rt, and st.setCookie when the
// client needs a bucket.
func (st *reqState) chooseSide(rt *route, cookie string) {
	st.toSplit, st.setCookie = false, ""
	if !rt.Split.active() || !rt.hasSplit {
		return
	}
	st.toSplit, st.setCookie = rt.Split.side(cookie)
}

// pick returns the next healthy backend on the chosen side, in round-robin
// order; when that side has none, one of the other side; nil when no
// backend is healthy.
func (rt *route) pick(toSplit bool) *backend {
	n := uint64(len(rt.backends))
	if n == 0 {
		return nil
	}
	start := rt.rr.Add(1)
	var other *backend
	for i := uint64(0); i < n; i++ {
		b := rt.backends[(start+i)%n]
		if !b.healthy.Load() {
			continue
		}
		if rt.onSplit(b) == toSplit {
			return b
		}
		if other == nil {
			other = b
		}
	}
	return other
}

// onSplit reports whether b serves the split's side of rt.
func (rt *route) onSplit(b *backend) bool {
	return rt.Split.active() && b.up.Slot == rt.Split.Slot
}
