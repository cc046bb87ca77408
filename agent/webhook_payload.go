package agent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// Headers of a webhook delivery (docs/notifications.md says how to verify
// them).
const (
	headerSignature = "Pier-Signature"   // t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
	headerDelivery  = "Pier-Delivery-Id" // the idempotency id, the same on every attempt
	headerEventType = "Pier-Event-Type"
	headerEventID   = "Pier-Event-Id" // <app>/<event id>: "" app is the platform
)

// sign returns the Pier-Signature value of body sent at t.
func sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// renderDelivery is the body of a delivery in the webhook's format.
// webURL is the app's address, for the chat formats.
func renderDelivery(format string, d api.Delivery, webURL string) ([]byte, error) {
	switch format {
	case api.FormatSlack:
		return json.Marshal(slackMessage(d.Event, webURL))
	case api.FormatDiscord:
		return json.Marshal(discordMessage(d.Event, webURL))
	default:
		return json.Marshal(api.WebhookPayload{ID: d.ID, WebhookID: d.WebhookID, CreatedAt: d.CreatedAt, Event: d.Event})
	}
}

// failedEvent reports whether an event tells of something that went wrong:
// chat formats color it red.
func failedEvent(typ string) bool {
	return strings.HasSuffix(typ, ".failed") || typ == api.EventRollbackAutomatic ||
		typ == api.EventInstanceCrashed || typ == api.EventInstanceOOMKilled || typ == api.EventDrainDropped
}

// eventFacts are the lines a chat message shows under the event's message:
// release, commit, who, reason, in that order.
func eventFacts(e api.Event) [][2]string {
	var out [][2]string
	add := func(name, v string) {
		if v != "" {
			out = append(out, [2]string{name, v})
		}
	}
	add("Release", e.Data["release"])
	add("Commit", shortCommit(e.Data["commit"]))
	add("By", e.Actor)
	add("Reason", e.Data["reason"])
	add("Keys", e.Data["keys"])
	add("Domain", e.Data["domain"])
	return out
}

func eventTitle(e api.Event) string {
	if e.App == "" {
		return "pier: " + e.Type
	}
	return e.App + ": " + e.Type
}

// slackMessage is a Slack incoming-webhook message.
func slackMessage(e api.Event, webURL string) map[string]any {
	title := eventTitle(e)
	if webURL != "" {
		title = fmt.Sprintf("<%s|%s>: %s", webURL, e.App, e.Type)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*\n%s", title, e.Message)
	for _, f := range eventFacts(e) {
		fmt.Fprintf(&b, "\n*%s:* %s", f[0], f[1])
	}
	color := "good"
	if failedEvent(e.Type) {
		color = "danger"
	}
	return map[string]any{
		"text":        fmt.Sprintf("%s: %s", eventTitle(e), e.Message),
		"attachments": []map[string]any{{"color": color, "mrkdwn_in": []string{"text"}, "text": b.String(), "ts": e.Time.Unix()}},
	}
}

// discordMessage is a Discord webhook message with one embed.
func discordMessage(e api.Event, webURL string) map[string]any {
	fields := []map[string]any{}
	for _, f := range eventFacts(e) {
		fields = append(fields, map[string]any{"name": f[0], "value": f[1], "inline": f[0] != "Reason"})
	}
	color := 0x2ecc71
	if failedEvent(e.Type) {
		color = 0xe74c3c
	}
	embed := map[string]any{
		"title": eventTitle(e), "description": e.Message, "color": color,
		"fields": fields, "timestamp": e.Time.UTC().Format(time.RFC3339),
	}
	if webURL != "" {
		embed["url"] = webURL
	}
	return map[string]any{"username": "pier", "content": fmt.Sprintf("%s: %s", eventTitle(e), e.Message), "embeds": []any{embed}}
}
