package api

import "time"

// Add-on types.
const (
	AddonPostgres = "postgres"
	AddonRedis    = "redis"
)

// Addon is a database pier runs for apps: a PostgreSQL cluster or a Redis
// server. The app that created it owns it; every app it is attached to
// (the owner first) gets its URL as a config var.
type Addon struct {
	Name        string       `json:"name"`
	Type        string       `json:"type"`
	Version     string       `json:"version"`
	App         string       `json:"app"`
	Attachments []Attachment `json:"attachments"`
	Port        int          `json:"port,omitempty"`
	Listen      string       `json:"listen,omitempty"`  // an address beyond loopback it listens on too, TLS only
	TLS         bool         `json:"tls,omitempty"`     // it serves TLS only
	CACert      string       `json:"ca_cert,omitempty"` // with TLS: the PEM of the authority that signed its certificate
	UID         int          `json:"uid,omitempty"`     // the server's user; 0: the agent's
	State       string       `json:"state,omitempty"`
	Restarts    int          `json:"restarts,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	CreatedBy   string       `json:"created_by,omitempty"`
}

// Attachment gives an app an add-on's URL in the config var Var
// (DATABASE_URL, REDIS_URL, NAME_URL).
type Attachment struct {
	App string `json:"app"`
	Var string `json:"var"`
}

// AttachmentOf returns the add-on's attachment to app.
func (a Addon) AttachmentOf(app string) (Attachment, bool) {
	for _, at := range a.Attachments {
		if at.App == app {
			return at, true
		}
	}
	return Attachment{}, false
}

// AddonCreateRequest is the body of POST /v1/apps/{app}/addons.
type AddonCreateRequest struct {
	Type    string `json:"type"`
	Name    string `json:"name,omitempty"`    // the add-on's name; default APP-TYPE
	As      string `json:"as,omitempty"`      // the config var is AS_URL; default DATABASE_URL, REDIS_URL
	Version string `json:"version,omitempty"` // a major version installed on the agent's host
	// Listen is an address of the agent's host to listen on beside
	// 127.0.0.1, for apps elsewhere: the server then serves TLS only.
	Listen string `json:"listen,omitempty"`
}

// AttachRequest is the body of POST /v1/apps/{app}/addons/{addon}/attach.
type AttachRequest struct {
	As string `json:"as,omitempty"`
}

// AddonChange is what creating, attaching, detaching or destroying an
// add-on did: the add-on, and the releases it made.
type AddonChange struct {
	Addon    Addon     `json:"addon"`
	Releases []Release `json:"releases,omitempty"`
}

// PgInfo is what `pier pg info` shows of a PostgreSQL add-on.
type PgInfo struct {
	Addon          string `json:"addon"`
	Version        string `json:"version"` // the server's own words
	State          string `json:"state"`
	SizeBytes      int64  `json:"size_bytes"`
	Connections    int    `json:"connections"`
	MaxConnections int    `json:"max_connections"`
	Tables         int    `json:"tables"`
}

// PgBackup is a dump of a PostgreSQL add-on (pg_dump's custom format).
type PgBackup struct {
	ID        string    `json:"id"` // b001, b002 ...
	Addon     string    `json:"addon"`
	SizeBytes int64     `json:"size_bytes"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// PgRestoreRequest is the body of a restore: a backup of this app's
// add-on, or of another app's (From) that the caller may read.
type PgRestoreRequest struct {
	Backup string `json:"backup"`
	From   string `json:"from,omitempty"`
}
