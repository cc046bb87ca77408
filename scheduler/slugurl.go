package scheduler

import (
	"errors"
	"net/http"
)

// SlugURLSigner is the optional part of a scheduler whose hosts fetch
// slugs from the agent over HTTP (nomad) instead of reading them from its
// disk: it signs the expiring URL of a slug (Deployment.SlugURL) and checks
// a request for one. Schedulers without it get no slug URLs, and the agent
// serves them no slugs.
type SlugURLSigner interface {
	// SignSlugURL returns the URL of slugID under base, the agent's URL.
	SignSlugURL(base, slugID string) string
	// VerifySlugURL checks a request for a signed URL and returns its slug.
	VerifySlugURL(r *http.Request) (slugID string, err error)
}

// ErrSlugURLExpired is VerifySlugURL's error for a URL once valid.
var ErrSlugURLExpired = errors.New("slug URL expired")
