package agent

import "testing"

func TestSyslogMessage(t *testing.T) {
	tests := []struct{ line, want string }{
		{"2026-12-07T12:00:01.123456+00:00 app[web.1]: listening on 5000",
			"<190>1 2026-12-07T12:00:01.123456Z vm1 shop web.1 - - listening on 5000"},
		{"2026-12-07T12:00:01.000000-07:00 app[router]: at=info method=GET path=\"/\"",
			"<190>1 2026-12-07T12:00:01.000000-07:00 vm1 shop router - - at=info method=GET path=\"/\""},
		{"2026-12-07T12:00:01.000000+00:00 app[pier]:", "<190>1 2026-12-07T12:00:01.000000Z vm1 shop pier - - "},
	}
	for _, tt := range tests {
		got, ok := syslogMessage("shop", "vm1", tt.line)
		if !ok || got != tt.want {
			t.Errorf("syslogMessage(%q) =\n%q, %v\nwant\n%q", tt.line, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "no time", "2026-12-07T12:00:01.000000+00:00 web.1: x"} {
		if _, ok := syslogMessage("shop", "vm1", bad); ok {
			t.Errorf("syslogMessage(%q) read a line that is not in Heroku's format", bad)
		}
	}
	if got := octetFrame("<190>1 x"); got != "8 <190>1 x" {
		t.Errorf("octetFrame = %q", got)
	}
}
