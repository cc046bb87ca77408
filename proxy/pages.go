package proxy

import (
	"fmt"
	"html"
	"net/http"
)

// page is an answer the proxy gives itself: a title and what to do next.
// Both may hold one %s, the host or the app.
type page struct{ title, advice string }

var (
	unknownHostPage = page{"No app is at %s", "Check the address. To serve this host from an app, run: pier domains add -a APP %s"}
	noInstancePage  = page{"No instance of %s is running", "Deploy it with git push, or start web instances: pier scale -a %s web=1"}
	maintenancePage = page{"%s is down for maintenance", "It will be back shortly. Please try again in a minute."}
	rateLimitedPage = page{"Too many requests to %s", "Slow down and try again after the time in the Retry-After header."}
	tooLargePage    = page{"Request body too large for %s", "Send a smaller body."}
	slowBodyPage    = page{"The request's body stopped arriving", "Nothing more of it came for %s. Check the connection and send it again."}
	badBodyPage     = page{"Malformed request body for %s", "The request's body could not be read (its framing is broken, or it was cut off). Send it again."}
	badGatewayPage  = page{"%s could not be reached", "An instance failed to answer. Try again; if it persists, check: pier logs -a %s"}
	timeoutPage     = page{"%s did not answer in time", "The app took too long to start its answer. If it persists, check: pier logs -a %s"}
)

const pageHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>%[1]s</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}</style>
</head><body><h1>%[1]s</h1><p>%[2]s</p><p><small>%[3]d · request %[4]s</small></p></body></html>
`

// writePage answers the request with pg about arg (a host or an app).
func writePage(st *reqState, status int, pg page, arg string) {
	h := st.Header()
	st.setAnswerHeader(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	title := html.EscapeString(fill(pg.title, arg))
	advice := html.EscapeString(fill(pg.advice, arg))
	st.WriteHeader(status)
	st.status = status
	fmt.Fprintf(st, pageHTML, title, advice, status, html.EscapeString(st.requestID))
}

func fill(s, arg string) string {
	n := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' && s[i+1] == 's' {
			n++
		}
	}
	args := make([]any, n)
	for i := range args {
		args[i] = arg
	}
	return fmt.Sprintf(s, args...)
}

var _ http.ResponseWriter = (*reqState)(nil)
