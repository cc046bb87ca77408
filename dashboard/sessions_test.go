package dashboard

import (
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// clock is a settable time for the session and link tables.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSessionsExpire(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ss := newSessions(time.Hour, c.now)
	s := ss.start("secret", "ci", api.Grant{Role: api.RoleDeploy, Apps: []string{"shop"}})
	if s.id == "secret" || s.csrf == "" || s.csrf == s.id {
		t.Fatalf("session %+v: the id must be random and apart from the token and CSRF token", s)
	}
	if ss.get(s.id) != s {
		t.Fatal("a new session is not found")
	}
	if !s.may(api.RoleDeploy, "shop") || s.may(api.RoleRead, "blog") || s.may(api.RoleAdmin, "shop") {
		t.Errorf("the grant of a deploy token on shop is not what may says")
	}
	c.t = c.t.Add(time.Hour - time.Second)
	if ss.get(s.id) == nil {
		t.Fatal("the session ended before its hour")
	}
	c.t = c.t.Add(time.Second)
	if ss.get(s.id) != nil {
		t.Fatal("the session outlived its hour")
	}
	if ss.get("") != nil || ss.get("made-up") != nil {
		t.Fatal("an unknown id found a session")
	}
}

func TestLoginLinksAreOneTimeAndShortLived(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ls := newLoginLinks(LoginLinkTTL, c.now)
	code, err := ls.add("secret", "ci")
	if err != nil || code == "secret" {
		t.Fatalf("add: %q, %v", code, err)
	}
	if name, ok := ls.peek(code); !ok || name != "ci" {
		t.Fatalf("peek: %q, %v", name, ok)
	}
	if ls.take(code) != "secret" || ls.take(code) != "" {
		t.Fatal("a link signs in other than once")
	}
	if _, ok := ls.peek(code); ok {
		t.Fatal("a used link still shows its page")
	}
	late, _ := ls.add("secret", "ci")
	c.t = c.t.Add(LoginLinkTTL)
	if _, ok := ls.peek(late); ok || ls.take(late) != "" {
		t.Fatal("an expired link signed in")
	}
	for range maxLinks {
		if _, err := ls.add("x", "x"); err != nil {
			t.Fatalf("add within the bound: %v", err)
		}
	}
	if _, err := ls.add("x", "x"); err == nil {
		t.Fatal("the links outgrew their bound")
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"15m":                  now.Add(-15 * time.Minute),
		"2026-01-01T00:00:00Z": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-5m", "0s"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) took it", bad)
		}
	}
}
