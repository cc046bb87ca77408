package agent

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// statusOf maps an error to its HTTP status. It is the only place that
// does: operations return the kinds of errors.go and the store's errors.
func statusOf(err error) int {
	switch {
	case errors.As(err, new(*deployError)):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrNotFound),
		errors.Is(err, store.ErrAppNotFound), errors.Is(err, store.ErrReleaseNotFound),
		errors.Is(err, store.ErrDomainNotFound), errors.Is(err, store.ErrTokenNotFound),
		errors.Is(err, store.ErrKeyNotFound), errors.Is(err, store.ErrWebhookNotFound), errors.Is(err, store.ErrDrainNotFound),
		errors.Is(err, store.ErrAddonNotFound), errors.Is(err, store.ErrPipelineNotFound), errors.Is(err, store.ErrNotInPipeline):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, errBusy),
		errors.Is(err, store.ErrAppExists), errors.Is(err, store.ErrDomainTaken), errors.Is(err, store.ErrKeyExists),
		errors.Is(err, store.ErrAddonExists), errors.Is(err, store.ErrPipelineExists), errors.Is(err, store.ErrInPipeline):
		return http.StatusConflict
	case errors.Is(err, ErrInvalid), errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
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
