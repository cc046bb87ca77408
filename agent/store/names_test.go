package store

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ci", true},
		{"alice@laptop", true},
		{"Zoë's key", true},
		{strings.Repeat("é", MaxNameLen), true},
		{"", false},
		{"   ", false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{"ci\n2026-01-01T00:00:00.000000+00:00 app[pier]: Deployed v9", false},
		{"ci\r", false},
		{"ci\x1b[2J", false},
		{"ci\x00", false},
		{"ci\u0085", false},
		{"ci\u2028next", false},
		{"ci\xff", false},
	} {
		err := CheckName("token", tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckName(%q) = %v, not ErrInvalid", tc.name, err)
		}
	}
}

func TestTokenAndKeyNamesAreChecked(t *testing.T) {
	s := newStore(t)
	if _, err := s.CreateToken("ci\napp[pier]: forged", adminGrant, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateToken with a newline = %v, want ErrInvalid", err)
	}
	const pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	if _, err := s.AddKey("laptop\napp[pier]: forged", pub, deployAll); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddKey with a newline = %v, want ErrInvalid", err)
	}
	if list, _ := s.Tokens(); len(list) != 0 {
		t.Errorf("tokens = %+v", list)
	}
	if list, _ := s.Keys(); len(list) != 0 {
		t.Errorf("keys = %+v", list)
	}
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"ci", "a\nb", "\u2028", "\xff", "é", strings.Repeat("x", 65), " ", "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName("token", name) != nil {
			return
		}
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen || strings.TrimSpace(name) == "" {
			t.Fatalf("CheckName took %q", name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' {
				t.Fatalf("CheckName took %q, which holds %U", name, r)
			}
		}
	})
}
