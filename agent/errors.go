package agent

import (
	"errors"
	"fmt"
)

// The kinds of error the agent's operations return, wrapped with what
// failed and a message for the user. The API maps them to HTTP statuses in
// one place (statusOf); nothing else knows about status codes.
var (
	// ErrNotFound: the app, release, domain or key named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request is sound but the app's state refuses it
	// (nothing live to roll back from, a name already taken, another
	// deploy under way).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request itself is wrong (a bad name, count or value).
	ErrInvalid = errors.New("invalid")
	// ErrForbidden: the caller's role does not allow the request.
	ErrForbidden = errors.New("forbidden")
)

// userError is an error of one of the kinds above whose message is meant
// for the user as it is.
type userError struct {
	kind error
	msg  string
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.kind }

func invalidf(format string, args ...any) error {
	return &userError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &userError{kind: ErrConflict, msg: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &userError{kind: ErrNotFound, msg: fmt.Sprintf(format, args...)}
}

func forbiddenf(format string, args ...any) error {
	return &userError{kind: ErrForbidden, msg: fmt.Sprintf(format, args...)}
}

// deployError is a deploy that stopped for a reason of the release itself:
// its release command failed, its processes could not be started, or they
// never became healthy. The request was sound, so it is no server error;
// the message says why, and that the live release keeps serving.
type deployError struct{ err error }

func (e *deployError) Error() string { return e.err.Error() }
func (e *deployError) Unwrap() error { return e.err }
