package agent

import (
	"strconv"
	"strings"
	"time"
)

// syslogPriority is local7.info, as Heroku's drains send: 23*8+6.
const syslogPriority = 190

// syslogMessage turns a log line in Heroku's format ("TIME app[web.1]:
// text") of app into an RFC 5424 message: APP-NAME is the app, PROCID the
// line's source (web.1, router, pier), HOSTNAME the agent's host. It
// returns the message and false for a line it cannot read.
func syslogMessage(app, hostname, line string) (string, bool) {
	ts, rest, ok := strings.Cut(line, " ")
	if !ok {
		return "", false
	}
	t, err := time.Parse(logTimeFormat, ts)
	if err != nil {
		return "", false
	}
	rest, ok = strings.CutPrefix(rest, "app[")
	if !ok {
		return "", false
	}
	source, text, ok := strings.Cut(rest, "]: ")
	if !ok {
		source, ok = strings.CutSuffix(rest, "]:")
		if !ok {
			return "", false
		}
	}
	return "<" + strconv.Itoa(syslogPriority) + ">1 " + t.Format("2006-01-02T15:04:05.000000Z07:00") + " " +
		syslogName(hostname) + " " + syslogName(app) + " " + syslogName(source) + " - - " + text, true
}

// syslogName keeps what RFC 5424 allows in a header field: printable
// US-ASCII without spaces; "-" when nothing is left.
func syslogName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	return s
}

// octetFrame is RFC 6587's octet-counted framing: "LEN MSG".
func octetFrame(msg string) string {
	return strconv.Itoa(len(msg)) + " " + msg
}
