package agent

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pierhq/pier/api"
)

// Git over HTTP and SSH asks what the API does: a fetch needs the read role
// on the app, a push the deploy role; an app outside a token's or key's
// apps is "does not exist", as one that does not. Every push is recorded
// in the audit log.

// gitNote carries who a git request authenticated as from Authorize to the
// audit entry of the push.
type gitNote struct {
	p    *principal
	app  string
	push bool
	ip   string
}

type gitNoteKey struct{}

// gitHandler serves /git/ and records each push (the request that carries
// the pack) in the audit log.
func (a *Agent) gitHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note := &gitNote{}
		r = r.WithContext(context.WithValue(r.Context(), gitNoteKey{}, note))
		sw := &statusWriter{ResponseWriter: w}
		a.git.ServeHTTP(sw, r)
		if note.p == nil || !note.push || r.Method != http.MethodPost {
			return
		}
		a.audit(api.AuditEntry{
			Time: time.Now().UTC(), Who: note.p.name, Via: note.p.via, ID: note.p.id, Role: note.p.Role,
			Action: "git push", App: note.app, Status: sw.status(), ClientIP: note.ip,
		})
	})
}

// gitAuthorize checks git's basic auth (any user name, an API token as the
// password) for a fetch or a push of app, answering w when it refuses.
func (a *Agent) gitAuthorize(w http.ResponseWriter, r *http.Request, app string, push bool) (string, bool) {
	ip := a.clientIP(r)
	_, secret, _ := r.BasicAuth()
	if secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(a.hook.Token)) == 1 {
		secret = "" // the hook's credential is not an API token
	}
	p, err := a.authenticate(secret, ip)
	if err != nil {
		var re *refusedError
		if errors.As(err, &re) {
			w.Header().Set("Retry-After", fmt.Sprint(int(re.wait.Round(time.Second)/time.Second)+1))
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return "", false
		}
		msg := "authentication required: use an API token as the password (pier tokens create)"
		if secret != "" {
			msg = err.Error()
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="pier"`)
		http.Error(w, msg, http.StatusUnauthorized)
		return "", false
	}
	if err := p.check(gitNeed(push), app); err != nil {
		if errors.Is(err, ErrNotFound) {
			err = errNoSuchApp(app)
		}
		http.Error(w, err.Error(), statusOf(err))
		return "", false
	}
	if note, _ := r.Context().Value(gitNoteKey{}).(*gitNote); note != nil {
		*note = gitNote{p: p, app: app, push: push, ip: ip}
	}
	return p.name, true
}

func gitNeed(push bool) need {
	if push {
		return gitPushNeed
	}
	return gitFetchNeed
}

// errNoSuchApp is what git clients hear of an app that does not exist or
// that they may not see: the same words for both.
func errNoSuchApp(app string) error {
	return notFoundf("app %q does not exist: create it with `pier apps create %s`", app, app)
}

// sshPermit decides whether the key may run a push or a fetch of app, as
// gitAuthorize does for a token.
func (a *Agent) sshPermit(key ssh.PublicKey, app string, push bool) error {
	k, err := a.store.KeyByFingerprint(ssh.FingerprintSHA256(key))
	if err != nil {
		return errors.New("this SSH key is no longer allowed (it was removed): add it again with `pier keys add`")
	}
	if err := keyPrincipal(k).check(gitNeed(push), app); err != nil {
		if errors.Is(err, ErrNotFound) {
			return errNoSuchApp(app)
		}
		return err
	}
	return nil
}

// sshRan records a push over SSH in the audit log.
func (a *Agent) sshRan(key ssh.PublicKey, app string, push bool, code int, remote net.Addr) {
	if !push {
		return
	}
	e := api.AuditEntry{Time: time.Now().UTC(), Via: "key", ID: ssh.FingerprintSHA256(key), Action: "git push", App: app, Status: code}
	if k, err := a.store.KeyByFingerprint(e.ID); err == nil {
		e.Who, e.Role = k.Name, k.Role
	}
	if host, _, err := net.SplitHostPort(remote.String()); err == nil {
		e.ClientIP = host
	}
	a.audit(e)
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
