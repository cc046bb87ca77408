package cli

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLogsFollowEndsCleanly follows a stream that never ends and cancels it,
// as Ctrl-C does: the lines arrive and the command ends without an error.
func TestLogsFollowEndsCleanly(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handleFunc("GET /v1/apps/hello/logs", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "2024-05-01T10:00:00Z app[web.1]: listening on 5000\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"pier", "logs", "-a", "hello", "-f", "-n", "20", "-p", "web"}, &out, &errb)
	}()

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "app[web.1]: listening on 5000") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line after 10s; stdout %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs -f after Ctrl-C: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not end after Ctrl-C")
	}
	if q := fa.only(t).Query; q != "follow=1&n=20&process=web" {
		t.Errorf("logs query %q", q)
	}
}
