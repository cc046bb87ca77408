package dnsprovider

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libdns/libdns"
)

// txtZone is what a cloud's DNS must do for records: read the TXT values
// at a name, and replace them in one change that it waits for. Names are
// fully qualified, with the trailing dot.
type txtZone interface {
	getTXT(ctx context.Context, fqdn string) (values []string, ttl time.Duration, err error)
	// putTXT replaces old (with oldTTL, as read) by values; no values
	// removes the record set.
	putTXT(ctx context.Context, fqdn string, old []string, oldTTL time.Duration, values []string, ttl time.Duration) error
}

// records adds and removes TXT values at a name, keeping the others there:
// a wildcard and its base name share one _acme-challenge name, and their
// challenges may be under way at once.
type records struct {
	zone txtZone
	mu   sync.Mutex // one read-modify-write at a time
}

func (r *records) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return r.update(ctx, zone, recs, func(have []string, v string) []string {
		if slices.Contains(have, v) {
			return have
		}
		return append(have, v)
	})
}

func (r *records) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return r.update(ctx, zone, recs, func(have []string, v string) []string {
		return slices.DeleteFunc(have, func(h string) bool { return h == v })
	})
}

func (r *records) update(ctx context.Context, zone string, recs []libdns.Record, apply func([]string, string) []string) ([]libdns.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		rr := rec.RR()
		if !strings.EqualFold(rr.Type, "TXT") {
			return nil, fmt.Errorf("%s record %s: only TXT records are set", rr.Type, rr.Name)
		}
		fqdn := strings.ToLower(libdns.AbsoluteName(rr.Name, zone))
		if !strings.HasSuffix(fqdn, ".") {
			fqdn += "."
		}
		have, oldTTL, err := r.zone.getTXT(ctx, fqdn)
		if err != nil {
			return nil, fmt.Errorf("reading TXT %s: %w", fqdn, err)
		}
		want := apply(slices.Clone(have), rr.Data)
		if slices.Equal(want, have) {
			continue
		}
		ttl := max(rr.TTL, oldTTL, minTTL)
		if err := r.zone.putTXT(ctx, fqdn, have, oldTTL, want, ttl); err != nil {
			return nil, fmt.Errorf("setting TXT %s: %w", fqdn, err)
		}
	}
	return recs, nil
}

// quoteTXT writes a TXT value as zone files (and the clouds' APIs) want
// it: quoted, in strings of at most 255 bytes.
func quoteTXT(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, v[:255])
		v = v[255:]
	}
	parts = append(parts, v)
	for i, p := range parts {
		p = strings.ReplaceAll(p, `\`, `\\`)
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
	}
	return strings.Join(parts, " ")
}

// unquoteTXT reads a value quoteTXT wrote (or an unquoted one).
func unquoteTXT(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	var b strings.Builder
	in, esc := false, false
	for _, c := range s {
		switch {
		case esc:
			b.WriteRune(c)
			esc = false
		case c == '\\' && in:
			esc = true
		case c == '"':
			in = !in
		case in:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func quoteAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = quoteTXT(v)
	}
	return out
}

func unquoteAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = unquoteTXT(v)
	}
	return out
}
