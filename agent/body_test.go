package agent

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestDecodeBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
		want string // in the error
	}{
		{body: `{"name":"ci"}`, ok: true},
		{body: " {\"name\":\"ci\"} \n\t", ok: true},
		{body: `{"name":"ci"}{"name":"admin"}`, want: "unexpected data after the JSON body"},
		{body: `{"name":"ci"} garbage`, want: "unexpected data after the JSON body"},
		{body: `{"name":"ci"}]`, want: "unexpected data after the JSON body"},
		{body: `{"name":"ci"} 1`, want: "unexpected data after the JSON body"},
		{body: `{"name":"ci","owner":"me"}`, want: "unknown field"},
		{body: `{"name":`, want: "malformed request body"},
		{body: ``, want: "malformed request body"},
		{body: `{"name":"` + strings.Repeat("x", maxBodyBytes) + `"}`, want: "over 1024 KiB"},
	} {
		var req api.TokenRequest
		err := decodeBody(strings.NewReader(tc.body), &req)
		if tc.ok {
			if err != nil || req.Name != "ci" {
				t.Errorf("decodeBody(%.40q) = %+v, %v; want name ci", tc.body, req, err)
			}
			continue
		}
		if err == nil || statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeBody(%.40q) = %v; want a 400 saying %q", tc.body, err, tc.want)
		}
	}
}

// FuzzDecodeBody: any body is either a clean 400 or one JSON value with
// nothing after it, never a panic.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"name":"ci"}`, `{"name":"ci"}{}`, `{"name":"ci"} x`, `{"vars":{"A":"1","B":null}}`, `[]`, `null`, ` `, `{"name":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{new(api.TokenRequest), new(api.ConfigRequest), new(map[string]any)} {
			err := decodeBody(strings.NewReader(string(body)), v)
			if err != nil {
				if statusOf(err) != http.StatusBadRequest {
					t.Fatalf("decodeBody(%q) = %v, status %d; want 400", body, err, statusOf(err))
				}
				continue
			}
			// json.Unmarshal refuses anything after the value: what
			// decodeBody takes, it must take too.
			if err := json.Unmarshal(body, new(any)); err != nil {
				t.Fatalf("decodeBody took %q, which is not one JSON value: %v", body, err)
			}
		}
	})
}
