package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestChatFormatsShowReleaseCommitWhoURLAndReason(t *testing.T) {
	ev := api.Event{
		ID: 9, Type: api.EventRollbackAutomatic, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), App: "blog", Actor: "ci",
		Message: "v8 rolled back automatically to v7: web.1 crashed after the switch",
		Data:    api.EventData{"release": "v8", "commit": "1a2b3c4d5e6f", "reason": "web.1 crashed after the switch"},
	}
	d := api.Delivery{ID: "wh_1-3", WebhookID: "wh_1", Event: ev, CreatedAt: ev.Time}
	for _, format := range []string{api.FormatSlack, api.FormatDiscord} {
		body, err := renderDelivery(format, d, "http://blog.localhost:8080")
		if err != nil {
			t.Fatal(err)
		}
		s := string(body)
		for _, want := range []string{"v8", "1a2b3c4", "ci", "http://blog.localhost:8080", "web.1 crashed after the switch"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s message lacks %q: %s", format, want, s)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		key := map[string]string{api.FormatSlack: "text", api.FormatDiscord: "content"}[format]
		if _, ok := m[key].(string); !ok {
			t.Errorf("%s message has no %q: %s", format, key, s)
		}
	}
	body, _ := renderDelivery(api.FormatGeneric, d, "")
	var p api.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil || p.ID != "wh_1-3" || p.Event.ID != 9 || p.Event.Data["release"] != "v8" {
		t.Errorf("generic payload %s: %v", body, err)
	}
}

func TestSignatureIsHMACOfTimestampAndBody(t *testing.T) {
	at := time.Unix(1700000000, 0)
	got := sign("whsec_0123456789abcdef", at, []byte(`{"a":1}`))
	if !strings.HasPrefix(got, "t=1700000000,v1=") || !verifySignature("whsec_0123456789abcdef", got, []byte(`{"a":1}`)) {
		t.Errorf("signature %q does not verify", got)
	}
	if verifySignature("whsec_0123456789abcdef", got, []byte(`{"a":2}`)) || verifySignature("another-secret-value", got, []byte(`{"a":1}`)) {
		t.Error("a signature verifies another body or secret")
	}
}
