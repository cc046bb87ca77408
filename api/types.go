// Package api holds the wire types of the pier agent's HTTP API and the typed
// client the CLI uses. It imports nothing of pier and only the standard library.
package api

import "time"

// Release statuses.
const (
	StatusPending    = "pending"    // building or starting
	StatusLive       = "live"       // serving traffic
	StatusStandby    = "standby"    // warm in the other slot, ready for an instant rollback
	StatusFailed     = "failed"     // build, release command, health gate or watch window failed
	StatusSuperseded = "superseded" // was live once, no longer running
)

// Slots.
const (
	SlotBlue  = "blue"
	SlotGreen = "green"
)

// OtherSlot returns the slot that is not s.
func OtherSlot(s string) string {
	if s == SlotBlue {
		return SlotGreen
	}
	return SlotBlue
}

// App is an application hosted by pier.
type App struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	GitURL    string    `json:"git_url,omitempty"`
	SSHURL    string    `json:"ssh_url,omitempty"` // "" when the agent serves no SSH
	WebURL    string    `json:"web_url,omitempty"`

	// Formation is the wanted count per process type ("web": 1).
	Formation map[string]int `json:"formation,omitempty"`
	// MemoryMB is the memory limit per process type, in MiB (pier scale
	// web=2:512M); unset types get the scheduler's default.
	MemoryMB map[string]int `json:"memory_mb,omitempty"`
	// Processes are the process types of the live release (type -> command).
	Processes map[string]string `json:"processes,omitempty"`

	LiveRelease    int       `json:"live_release,omitempty"` // 0: nothing deployed
	LiveSlot       string    `json:"live_slot,omitempty"`
	StandbyRelease int       `json:"standby_release,omitempty"`
	StandbyUntil   time.Time `json:"standby_until,omitempty"`

	Maintenance bool     `json:"maintenance,omitempty"`
	Domains     []string `json:"domains,omitempty"`
	// LostConfig names config vars whose values were lost with the secret
	// key (a backup restored without it): set them again.
	LostConfig []string `json:"lost_config,omitempty"`
	Buildpack  string   `json:"buildpack,omitempty"` // of the live release

	// Settings that tune deploys; zero means the agent's default.
	StandbyWindow Duration `json:"standby_window,omitempty"`
	WatchWindow   Duration `json:"watch_window,omitempty"`

	// Settings of the proxy for this app (`pier settings`).
	RateLimitRPS   float64           `json:"rate_limit_rps,omitempty"`   // per client IP; 0: no limit
	RateLimitBurst int               `json:"rate_limit_burst,omitempty"` // 0: one second's worth
	Headers        map[string]string `json:"headers,omitempty"`          // response header overrides; "" deletes

	// Canary is the release under canary analysis, nil when none runs;
	// CanarySettings say how it runs and is judged (`pier settings`, canary.*).
	Canary         *Canary        `json:"canary,omitempty"`
	CanarySettings CanarySettings `json:"canary_settings,omitzero"`

	// UID is the user id the app's processes run as on the agent's host
	// (its builds run as UID+1); 0 until the agent first gives it one.
	UID int `json:"uid,omitempty"`
	// Isolation says, in words, how the app is kept from the agent and
	// other apps, or why it is not ("not isolated: ..."). Filled in by the
	// agent when it answers; never stored.
	Isolation string `json:"isolation,omitempty"`
}

// Release is an immutable record of what an app ran: code (slug) and config.
type Release struct {
	App         string            `json:"app"`
	Version     int               `json:"version"`
	Description string            `json:"description"`
	Status      string            `json:"status"`
	Reason      string            `json:"reason,omitempty"` // why it failed
	Commit      string            `json:"commit,omitempty"`
	SlugID      string            `json:"slug_id,omitempty"` // sha256 of the slug
	Slot        string            `json:"slot,omitempty"`
	Buildpack   string            `json:"buildpack,omitempty"`
	Processes   map[string]string `json:"processes,omitempty"`
	ConfigKeys  []string          `json:"config_keys,omitempty"` // names only, never values
	CreatedBy   string            `json:"created_by,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
}

// Instance is one running (or restarting) process of an app.
type Instance struct {
	App       string    `json:"app"`
	Name      string    `json:"name"` // "web.1"
	Type      string    `json:"type"`
	Index     int       `json:"index"`
	Slot      string    `json:"slot"`
	Release   int       `json:"release"`
	State     string    `json:"state"`          // starting, up, crashed, stopped
	Addr      string    `json:"addr,omitempty"` // web instances: where the proxy sends requests
	Node      string    `json:"node,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Restarts  int       `json:"restarts,omitempty"`
	StartedAt time.Time `json:"started_at,omitempty"`
}

// Instance states.
const (
	StateStarting = "starting"
	StateUp       = "up"
	StateCrashed  = "crashed"
	StateStopped  = "stopped"
)

// Domain is a custom host name routed to an app.
type Domain struct {
	Host      string    `json:"host"`
	App       string    `json:"app"`
	CreatedAt time.Time `json:"created_at"`
}

// Cert is the certificate state of one host.
type Cert struct {
	Host   string `json:"host"`
	Status string `json:"status"` // valid, pending, failing
	// Challenge is how the certificate is had: http-01 (or TLS-ALPN-01),
	// or dns-01 for a wildcard.
	Challenge string `json:"challenge,omitempty"`
	// Wildcard is the wildcard certificate that serves Host
	// (*.apps.example.com), whose status this is; "" for a host's own.
	Wildcard  string    `json:"wildcard,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotAfter  time.Time `json:"not_after,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	NextRetry time.Time `json:"next_retry,omitempty"`
}

// Roles of API tokens and SSH keys, each allowing what the one before it
// does and more (docs/security.md has the table).
const (
	RoleRead   = "read"   // look: apps, releases, ps, logs, domains; git fetch
	RoleDeploy = "deploy" // change an app: push, config, scale, rollback, restart, run
	RoleAdmin  = "admin"  // everything: apps, tokens, keys, settings, the audit log
)

// Roles lists the roles from the least to the most allowed.
var Roles = []string{RoleRead, RoleDeploy, RoleAdmin}

// Grant is what a token or an SSH key may do: a role, on the apps named or,
// when Apps is empty, on every app.
type Grant struct {
	Role string   `json:"role"`
	Apps []string `json:"apps,omitempty"`
}

// Token is an API token. Secret is only set in the answer that creates it.
type Token struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Secret string `json:"token,omitempty"`
	Grant
	ExpiresAt *time.Time `json:"expires_at,omitempty"` // nil: until revoked
	CreatedAt time.Time  `json:"created_at"`
}

// Key is an SSH public key allowed to use git over SSH.
type Key struct {
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"name"`
	PublicKey   string `json:"public_key"`
	Grant
	CreatedAt time.Time `json:"created_at"`
}

// AuditEntry is one change made through the API, git or SSH: who made it,
// what it was and how it ended. It never holds a secret or a config value.
type AuditEntry struct {
	Time     time.Time `json:"time"`
	Who      string    `json:"who"`            // the token's or SSH key's name
	Via      string    `json:"via"`            // token, key
	ID       string    `json:"id,omitempty"`   // the token's id or the key's fingerprint
	Role     string    `json:"role,omitempty"` // the role it had
	Action   string    `json:"action"`         // "POST /v1/apps/{app}/scale", "git push"
	App      string    `json:"app,omitempty"`
	Target   string    `json:"target,omitempty"` // what else the route names: a token id, a key, a domain
	Status   int       `json:"status"`           // the HTTP status, or 0/1 of a git command over SSH
	ClientIP string    `json:"client_ip,omitempty"`
	// Detail says what happened, for what the agent does by itself (a
	// scheduled backup: its name, or why it failed); never a secret.
	Detail string `json:"detail,omitempty"`
}

// KeyRotation is the answer of `pier secrets rotate-key`.
type KeyRotation struct {
	// Resealed counts the values re-encrypted: each app's config, each
	// release's config snapshot, and the store's key check.
	Resealed int `json:"resealed"`
}

// Version describes the agent build.
type Version struct {
	Version   string `json:"version"`
	Scheduler string `json:"scheduler,omitempty"`
	Domain    string `json:"domain,omitempty"`
	// WatchWindow is how long the agent watches a new release by default
	// (an app's watch-window setting overrides it): a release that turns
	// bad inside it is rolled back automatically.
	WatchWindow Duration `json:"watch_window,omitempty"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Message string `json:"error"`
}

// Requests.

type CreateAppRequest struct {
	Name string `json:"name"`
}

type RollbackRequest struct {
	Version int `json:"version,omitempty"` // 0: the release before the live one
}

// ScaleRequest sets counts per process type; types not named are unchanged.
// Memory, when given, sets the memory limit of a type's instances in MiB,
// which restarts them (blue/green) when it changes.
type ScaleRequest struct {
	Formation map[string]int `json:"formation"`
	Memory    map[string]int `json:"memory,omitempty"`
}

// ConfigRequest sets vars; a nil value unsets the key.
type ConfigRequest struct {
	Vars map[string]*string `json:"vars"`
}

// SettingsRequest changes app settings (`rate-limit`, `rate-burst`,
// `standby-window`, `watch-window`, `header.NAME`); a nil value unsets one.
type SettingsRequest struct {
	Settings map[string]*string `json:"settings"`
}

type DomainRequest struct {
	Host string `json:"host"`
}

type MaintenanceRequest struct {
	Enabled bool `json:"enabled"`
}

type RunRequest struct {
	Command string `json:"command"`
}

// TokenRequest makes a token; Role is required. ExpiresIn, when set, ends
// the token that long after it is made.
type TokenRequest struct {
	Name string `json:"name"`
	Grant
	ExpiresIn Duration `json:"expires_in,omitempty"`
}

// KeyRequest adds an SSH key; Role is required.
type KeyRequest struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
	Grant
}

// AppMetrics is an app's traffic over the last minutes, per release, from
// the agent's own counters (`pier metrics`).
type AppMetrics struct {
	App string `json:"app"`
	// Window is how many seconds the figures cover (up to 5 minutes; less
	// just after the agent started).
	Window   float64          `json:"window_seconds"`
	Releases []ReleaseMetrics `json:"releases"`
}

// ReleaseMetrics is one release's traffic in an AppMetrics window.
// Release is "v7", or "" for requests the proxy answered before choosing
// an instance (maintenance, rate limit, nothing running).
type ReleaseMetrics struct {
	Release  string  `json:"release"`
	Requests float64 `json:"requests"`
	Rate     float64 `json:"rate"`   // requests per second
	Errors   float64 `json:"errors"` // 5xx answers
	P50      float64 `json:"p50"`    // seconds; 0 without requests
	P95      float64 `json:"p95"`    // seconds
	Total    float64 `json:"total"`  // requests since the agent started
}

// MetricsHistory is an app's recent traffic and instances as points a
// step apart, oldest first, from the agent's memory (the dashboard's
// graphs): up to six hours, fewer after the agent started. The last point
// may be shorter than a step: it runs from the last point to now.
type MetricsHistory struct {
	App    string         `json:"app"`
	Step   float64        `json:"step_seconds"`
	Points []MetricsPoint `json:"points"`
}

// MetricsPoint is what an app served in Seconds up to At, per release, and
// what ran of it at At.
type MetricsPoint struct {
	At       time.Time        `json:"at"`
	Seconds  float64          `json:"seconds"`
	Releases []ReleaseMetrics `json:"releases"` // Total is left out
	Up       int              `json:"up"`       // instances up, any slot and process type
	Running  int              `json:"running"`  // instances starting, up or crashed
	Memory   int64            `json:"memory_bytes"`
	// MemoryKnown is false when no instance's memory was measured (the
	// local scheduler measures instances with a memory limit).
	MemoryKnown bool `json:"memory_known"`
}

// AppOverview is one app's row of the overview (the dashboard's apps
// page), all of it in one answer: what runs, the traffic of the last
// minutes, certificates, and the history of the last half hour.
type AppOverview struct {
	App       App            `json:"app"`
	Instances []Instance     `json:"instances"`
	Metrics   AppMetrics     `json:"metrics"`
	Certs     []Cert         `json:"certs"`
	Recent    []MetricsPoint `json:"recent"`
}

// DeployLine is one line of a push's output as `git push` shows it, in
// the live deploy view (GET /v1/apps/{app}/deploys/live, JSON lines). The
// last has Done set: Live is the release live after the push, Error why
// it failed.
type DeployLine struct {
	Line  string `json:"line,omitempty"`
	Done  bool   `json:"done,omitempty"`
	Live  int    `json:"live,omitempty"`
	Error string `json:"error,omitempty"`
}

// AppUsage is an app's usage per day (UTC), newest first (`pier usage`).
type AppUsage struct {
	App  string     `json:"app"`
	Days []UsageDay `json:"days"`
}

// UsageDay is one day of an app's usage: requests answered, response
// bytes sent, unique visitors (an estimate: a HyperLogLog sketch of salted
// hashes of client addresses, the salt replaced daily and never stored)
// and the most frequent status codes.
type UsageDay struct {
	Day      string        `json:"day"` // 2006-01-02
	Requests uint64        `json:"requests"`
	Visitors uint64        `json:"visitors"`
	Bytes    uint64        `json:"bytes"`
	Statuses []StatusCount `json:"top_statuses"`
}

// StatusCount is how many answers had a status code.
type StatusCount struct {
	Code  int    `json:"code"`
	Count uint64 `json:"count"`
}
