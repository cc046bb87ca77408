package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"time"

	"github.com/pierhq/pier/api"
)

// The live deploy view follows a push as `git push` shows it, with no
// script: one HTML answer sent in pieces, the page's top at once, then
// each line of the build and deploy (escaped) as the agent has it, then
// the outcome and the page's end. A browser shows the lines as they come.

// liveViewTimeout bounds how long one live deploy page is sent.
const liveViewTimeout = 2 * time.Hour

// Where the streamed lines and the outcome go in the rendered page: text
// no escaping changes and no template writes otherwise.
const (
	streamMark = "pier-live-deploy-lines"
	resultMark = "pier-live-deploy-result"
)

type deployPage struct {
	App            string
	Stream, Result string // the marks
}

func (p deployPage) title() string { return p.App + ": deploy" }

// getDeploy is the live deploy page of an app.
func (d *Dashboard) getDeploy(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("app")
	if _, err := d.client(s).GetApp(r.Context(), name); err != nil {
		d.apiError(w, r, s, err)
		return
	}
	var buf bytes.Buffer
	if err := d.pages["deploy"].Execute(&buf, d.view(s, deployPage{App: name, Stream: streamMark, Result: resultMark})); err != nil {
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	head, rest, _ := bytes.Cut(buf.Bytes(), []byte(streamMark))
	mid, tail, _ := bytes.Cut(rest, []byte(resultMark))

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(b []byte) error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write(head) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), liveViewTimeout)
	defer cancel()
	var end api.DeployLine
	err := d.streamClient(s).FollowDeploy(ctx, name, func(l api.DeployLine) error {
		if l.Done {
			end = l
			return nil
		}
		return write([]byte(template.HTMLEscapeString(l.Line) + "\n"))
	})
	_ = write(mid)
	_, _ = io.WriteString(w, outcome(end, err))
	_ = write(tail)
}

// outcome is the paragraph that ends a live deploy page.
func outcome(end api.DeployLine, err error) string {
	esc := template.HTMLEscapeString
	switch {
	case err != nil:
		return `<p id="deploy-result" class="error">This view stopped: ` + esc(err.Error()) + `. Reload to follow again.</p>`
	case end.Error != "":
		return `<p id="deploy-result" class="error">The deploy failed: ` + esc(end.Error) + `</p>`
	case end.Live > 0:
		return fmt.Sprintf(`<p id="deploy-result" class="live">v%d is live</p>`, end.Live)
	}
	return `<p id="deploy-result">The push ended with nothing live.</p>`
}
