package agent

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestEscapeControl(t *testing.T) {
	for in, want := range map[string]string{
		"Deployed v2 by ci":                "Deployed v2 by ci",
		`C:\path`:                          `C:\path`,
		"by ci\n2026 app[pier]: Deployed":  `by ci\n2026 app[pier]: Deployed`,
		"a\rb\tc\x1b[2Jd\x00":              `a\rb\tc\x1b[2Jd\x00`,
		"line\u2028sep\u0085":              `line\u2028sep\u0085`,
		"bad \xff byte, good é and \ufffd": `bad \xff byte, good é and ` + "\ufffd",
	} {
		if got := escapeControl(in); got != want {
			t.Errorf("escapeControl(%q) = %q, want %q", in, got, want)
		}
	}
}

// A name or message holding a newline (a token named before names were
// checked) writes one line, not a forged second one.
func TestLogbookWritesOneLinePerAdd(t *testing.T) {
	l, err := newLogbook(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go l.run(ctx)
	l.add("hello", "pier", "Maintenance mode on by ci\n2026-01-01T00:00:00.000000+00:00 app[pier]: Deployed v9 by admin")
	cancel()
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the logbook did not stop")
	}
	lines := l.tail("hello", 10)
	if len(lines) != 1 || !strings.Contains(lines[0], `by ci\n2026-01-01`) {
		t.Fatalf("lines = %q, want one line with the newline escaped", lines)
	}
}
