package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// userError is an error whose message is meant for the user, with the HTTP
// status it maps to.
type userError struct {
	code int
	msg  string
}

func (e *userError) Error() string { return e.msg }

func userErrorf(code int, format string, args ...any) error {
	return &userError{code: code, msg: fmt.Sprintf(format, args...)}
}

// deployError is a deploy that stopped for a reason of the release itself:
// its release command failed, its processes could not be started, or they
// never became healthy. The request was sound, so it is no server error;
// the message says why, and that the live release keeps serving.
type deployError struct{ err error }

func (e *deployError) Error() string { return e.err.Error() }
func (e *deployError) Unwrap() error { return e.err }

// statusOf maps an error to its HTTP status, in one place.
func statusOf(err error) int {
	var ue *userError
	switch {
	case errors.As(err, &ue):
		return ue.code
	case errors.As(err, new(*deployError)):
		return http.StatusUnprocessableEntity
	case errors.Is(err, store.ErrAppNotFound), errors.Is(err, store.ErrReleaseNotFound),
		errors.Is(err, store.ErrDomainNotFound), errors.Is(err, store.ErrTokenNotFound),
		errors.Is(err, store.ErrKeyNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrAppExists), errors.Is(err, store.ErrDomainTaken), errors.Is(err, store.ErrKeyExists):
		return http.StatusConflict
	case errors.Is(err, errBusy):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		msg = "internal error: " + msg
	}
	writeJSON(w, code, api.Error{Message: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
