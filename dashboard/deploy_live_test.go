package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestLiveDeployPageStreams: the page's top and each line reach the
// browser while the push still runs, escaped; the outcome ends the page.
// The API here is a stand-in handler that speaks the agent's wire format,
// so the test controls when each line comes.
func TestLiveDeployPageStreams(t *testing.T) {
	release := make(chan struct{})
	apiHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/apps/shop":
			json.NewEncoder(w).Encode(api.App{Name: "shop"})
		case "/v1/apps/shop/deploys/live":
			w.Header().Set("Content-Type", "application/x-ndjson")
			enc := json.NewEncoder(w)
			enc.Encode(api.DeployLine{Line: "-----> Building shop <script>alert(1)</script>"})
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			enc.Encode(api.DeployLine{Line: "-----> Released v3"})
			enc.Encode(api.DeployLine{Done: true, Live: 3})
		default:
			http.NotFound(w, r)
		}
	})
	d, err := New(Options{API: apiHandler, ClientIP: func(*http.Request) string { return "127.0.0.1" }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	s := d.sessions.start("secret", "ci", api.Grant{Role: api.RoleRead})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/dashboard/apps/shop/deploy", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.id})
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Security-Policy") != CSP {
		t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	br := bufio.NewReader(resp.Body)
	var page strings.Builder
	readUntil := func(s string) {
		t.Helper()
		for !strings.Contains(page.String(), s) {
			l, err := br.ReadString('\n')
			page.WriteString(l)
			if err != nil {
				t.Fatalf("the page ended (%v) without %q:\n%s", err, s, page.String())
			}
		}
	}
	// The first line is there while the push is still running.
	readUntil("-----&gt; Building shop &lt;script&gt;alert(1)&lt;/script&gt;\n")
	if strings.Contains(page.String(), "Released v3") || strings.Contains(page.String(), "<script>") {
		t.Fatalf("the page so far:\n%s", page.String())
	}
	close(release)
	readUntil("</html>")
	got := page.String()
	if !strings.Contains(got, "-----&gt; Released v3\n</pre>") || !strings.Contains(got, `<p id="deploy-result" class="live">v3 is live</p>`) {
		t.Errorf("the page's end:\n%s", got)
	}
	if strings.Contains(got, streamMark) || strings.Contains(got, resultMark) {
		t.Errorf("a mark is left in the page:\n%s", got)
	}
}

func TestDeployOutcome(t *testing.T) {
	for _, c := range []struct {
		end  api.DeployLine
		err  error
		want string
	}{
		{api.DeployLine{Done: true, Live: 7}, nil, `class="live">v7 is live<`},
		{api.DeployLine{Done: true, Live: 6, Error: `build failed: <b>exit 1</b>`}, nil, `The deploy failed: build failed: &lt;b&gt;exit 1&lt;/b&gt;<`},
		{api.DeployLine{}, context.DeadlineExceeded, `This view stopped: context deadline exceeded.`},
	} {
		if got := outcome(c.end, c.err); !strings.Contains(got, c.want) {
			t.Errorf("outcome(%+v, %v) = %q, want %q in it", c.end, c.err, got, c.want)
		}
	}
}
