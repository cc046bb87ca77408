package cli

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestRunExitCode(t *testing.T) {
	fa := newFakeAgent(t)
	var body api.RunRequest
	fa.handleFunc("POST /v1/apps/hello/run", func(w http.ResponseWriter, r *http.Request) {
		_ = json.Unmarshal(fa.requests()[len(fa.requests())-1].Body, &body)
		code := "0"
		if body.Command != "true" {
			code = "3"
		}
		_, _ = io.WriteString(w, "migrating\ndone\n"+api.RunExitPrefix+code+"\n")
	})

	out, _, err := pier(t, "run", "-a", "hello", "--", "rake", "db:migrate", "it's")
	var ec ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != 3 || err.Error() != "" {
		t.Fatalf("run: error %#v, want an ExitCoder with code 3 and no message", err)
	}
	if out != "migrating\ndone\n" {
		t.Errorf("stdout %q", out)
	}
	if want := `rake db:migrate 'it'\''s'`; body.Command != want {
		t.Errorf("command sent %q, want %q", body.Command, want)
	}

	if _, _, err := pier(t, "run", "-a", "hello", "--", "true"); err != nil {
		t.Errorf("a command that exits 0: %v", err)
	}
	if _, _, err := pier(t, "run", "-a", "hello"); err == nil {
		t.Error("run without a command: no error")
	}
}
