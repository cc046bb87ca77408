package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/pierhq/pier/sample-app/flags"
)

// newFlagServer is newServer with FLAG_NEW_SUMMARY set to percent.
func newFlagServer(t *testing.T, percent string) (*httptest.Server, *syncBuffer) {
	t.Helper()
	return newServer(t, map[string]string{"RATE_LIMIT_RPS": "0", "FLAG_" + flags.NewSummary: percent})
}

const flagText = "Rain fell. The market rose on strong bank earnings and rising interest in tech shares. " +
	"Bank shares rose. Tech shares rose too. Investors were calm."

type visit struct {
	variant, page, cookie string
}

// visitPage loads the page with client (a browser with its cookies).
func visitPage(t *testing.T, client *http.Client, url string, header map[string]string) visit {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	return visit{resp.Header.Get(VariantHeader), string(body), resp.Header.Get("Set-Cookie")}
}

// analyzeAs posts flagText with client and returns the variant header and
// the summary method and summary the API answered.
func analyzeAs(t *testing.T, client *http.Client, url string) (string, string, []string) {
	t.Helper()
	resp, err := client.Post(url+"/api/analyze", "application/json", strings.NewReader(`{"text": "`+flagText+`", "sentences": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Method  string   `json:"summary_method"`
		Summary []string `json:"summary"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("analyze: %d %v", resp.StatusCode, err)
	}
	return resp.Header.Get(VariantHeader), out.Method, out.Summary
}

func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

var (
	textRankSummary = []string{"Bank shares rose."}
	centroidSummary = []string{"The market rose on strong bank earnings and rising interest in tech shares."}
)

func TestFlagAtHundredAndZero(t *testing.T) {
	on, onLogs := newFlagServer(t, "100")
	v := visitPage(t, browser(), on.URL, nil)
	if v.variant != "centroid" || !strings.Contains(v.page, "the new centroid method</strong> (feature flag NEW_SUMMARY, on for 100% of visitors, you among them)") {
		t.Errorf("flag at 100: variant %q, page says %q", v.variant, variantLine(v.page))
	}
	if !strings.Contains(v.cookie, VisitorCookie+"=") || !strings.Contains(v.cookie, "HttpOnly") || !strings.Contains(v.cookie, "SameSite=Lax") {
		t.Errorf("visitor cookie: %q", v.cookie)
	}
	if hdr, method, sum := analyzeAs(t, browser(), on.URL); hdr != "centroid" || method != "centroid" || !equal(sum, centroidSummary) {
		t.Errorf("flag at 100: API variant %q, method %q, summary %q", hdr, method, sum)
	}
	if !strings.Contains(onLogs.String(), `path="/api/analyze" status=200`) || !strings.Contains(onLogs.String(), "variant=centroid") {
		t.Errorf("the request log does not say the variant:\n%s", onLogs)
	}

	off, _ := newFlagServer(t, "0")
	v = visitPage(t, browser(), off.URL, nil)
	if v.variant != "textrank" || !strings.Contains(v.page, "<strong>TextRank</strong>.") || strings.Contains(v.page, "on trial") {
		t.Errorf("flag at 0: variant %q, page says %q", v.variant, variantLine(v.page))
	}
	if hdr, method, sum := analyzeAs(t, browser(), off.URL); hdr != "textrank" || method != "textrank" || !equal(sum, textRankSummary) {
		t.Errorf("flag at 0: API variant %q, method %q, summary %q", hdr, method, sum)
	}
}

// At 30%, each browser keeps its variant from the page to the API and
// back, and about 30% of browsers get the new summary.
func TestFlagSplitsVisitorsStickily(t *testing.T) {
	ts, _ := newFlagServer(t, "30")
	const visitors = 400
	on := 0
	for i := 0; i < visitors; i++ {
		b := browser()
		first := visitPage(t, b, ts.URL, nil)
		if first.variant == "centroid" {
			on++
			if !strings.Contains(first.page, "on for 30% of visitors, you among them") {
				t.Fatalf("visitor in the flag, page says %q", variantLine(first.page))
			}
		} else if !strings.Contains(first.page, "on trial for 30% of visitors under feature flag NEW_SUMMARY; not for you") {
			t.Fatalf("visitor not in the flag, page says %q", variantLine(first.page))
		}
		if i%40 == 0 { // a few browsers come back, through the API too
			for j := 0; j < 5; j++ {
				hdr, method, _ := analyzeAs(t, b, ts.URL)
				again := visitPage(t, b, ts.URL, nil)
				if hdr != first.variant || method != first.variant || again.variant != first.variant || again.cookie != "" {
					t.Fatalf("visitor %d flipped: page %q, then API %q/%q, page %q (new cookie %q)", i, first.variant, hdr, method, again.variant, again.cookie)
				}
			}
		}
	}
	if share := float64(on) / visitors * 100; share < 22 || share > 38 {
		t.Errorf("%d of %d visitors (%.1f%%) got the new summary, want about 30%%", on, visitors, share)
	}
}

// A client that keeps no cookies but sends pier's Pier-Split-Key gets the
// same variant for the same key, and no cookie.
func TestFlagBySplitKey(t *testing.T) {
	ts, _ := newFlagServer(t, "50")
	seen := map[string]bool{}
	for k := 0; k < 20; k++ {
		key := "user-" + string(rune('a'+k))
		first := visitPage(t, http.DefaultClient, ts.URL, map[string]string{SplitKeyHeader: key})
		if first.cookie != "" {
			t.Errorf("a client with %s got a cookie %q", SplitKeyHeader, first.cookie)
		}
		for j := 0; j < 3; j++ {
			if v := visitPage(t, http.DefaultClient, ts.URL, map[string]string{SplitKeyHeader: key}); v.variant != first.variant {
				t.Fatalf("key %s: %q then %q", key, first.variant, v.variant)
			}
		}
		seen[first.variant] = true
	}
	if !seen["centroid"] || !seen["textrank"] {
		t.Errorf("20 keys at 50%% all got one variant: %v", seen)
	}
}

// A bad percent leaves the flag off, logs one clear line and serves.
func TestFlagBadValue(t *testing.T) {
	for _, bad := range []string{"lots", "150", "-5"} {
		ts, logs := newFlagServer(t, bad)
		if v := visitPage(t, browser(), ts.URL, nil); v.variant != "textrank" || strings.Contains(v.page, "on trial") {
			t.Errorf("FLAG_NEW_SUMMARY=%s: variant %q, page says %q", bad, v.variant, variantLine(v.page))
		}
		if n := strings.Count(logs.String(), "flags: FLAG_NEW_SUMMARY="); n != 1 || !strings.Contains(logs.String(), "is not a whole number from 0 to 100: the flag is off") {
			t.Errorf("FLAG_NEW_SUMMARY=%s: want one clear log line, got:\n%s", bad, logs)
		}
	}
}

var variantRx = regexp.MustCompile(`(?s)<p id="variant".*?</p>`)

func variantLine(page string) string {
	return strings.Join(strings.Fields(variantRx.FindString(page)), " ")
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
