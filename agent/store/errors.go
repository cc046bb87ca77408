package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Methods return them wrapped with the name at fault, so
// test with errors.Is; the messages are fit to show to users.
var (
	ErrAppNotFound      = errors.New("app not found")
	ErrAppExists        = errors.New("app already exists")
	ErrReleaseNotFound  = errors.New("release not found")
	ErrDomainTaken      = errors.New("domain is already used by another app")
	ErrDomainNotFound   = errors.New("domain not found")
	ErrTokenNotFound    = errors.New("token not found")
	ErrTokenExpired     = errors.New("token expired")
	ErrKeyNotFound      = errors.New("SSH key not found")
	ErrKeyExists        = errors.New("SSH key already added")
	ErrPipelineNotFound = errors.New("pipeline not found")
	ErrPipelineExists   = errors.New("pipeline already exists")
	ErrInPipeline       = errors.New("app is already in a pipeline")
	ErrNotInPipeline    = errors.New("app is in no pipeline")

	// ErrWrongKey means the secret key is not the one the database's config
	// vars were sealed with.
	ErrWrongKey = errors.New("the secret key does not fit this database: start the agent with the key it was created with (PIER_SECRET_KEY or secret.key in the data dir)")
	// ErrInvalid marks bad input (an invalid name, host, key or var).
	ErrInvalid = errors.New("invalid input")
	// ErrTokenRevoked means a bootstrap secret (admin.token,
	// PIER_ADMIN_TOKEN) whose token was revoked: it is not taken again.
	ErrTokenRevoked = errors.New("token revoked")
)

// detailError is a sentinel with a message naming what it is about.
type detailError struct {
	msg string
	err error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.err }

func detail(sentinel error, format string, args ...any) error {
	return &detailError{msg: fmt.Sprintf(format, args...), err: sentinel}
}

func appNotFound(name string) error {
	return detail(ErrAppNotFound, "app %q not found", name)
}

func invalid(format string, args ...any) error {
	return detail(ErrInvalid, format, args...)
}
