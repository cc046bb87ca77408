package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event is a state change the platform made to an app (or to the platform
// itself, with App ""): kept in the agent's store, shown by `pier events`,
// written as an app[pier] log line and sent to webhooks. docs/notifications.md
// documents the schema; it only grows.
type Event struct {
	// ID numbers the events of one app (or of the platform) in order: 1, 2,
	// 3... It never repeats for that app, across restarts too.
	ID   uint64    `json:"id"`
	Type string    `json:"type"` // one of EventTypes
	Time time.Time `json:"time"`
	App  string    `json:"app,omitempty"`
	// Message says what happened, for people.
	Message string `json:"message"`
	// Actor is who caused it (a token's or key's name); "" for pier itself.
	Actor string `json:"actor,omitempty"`
	// Data are the event's facts for programs: release ("v7"), commit,
	// reason, keys (config var NAMES, comma-separated: never values),
	// domain, formation, from... Which ones each type carries is in
	// docs/notifications.md.
	Data map[string]string `json:"data,omitempty"`
}

// EventData are an event's facts; see Event.Data.
type EventData = map[string]string

// The event types: a closed list, documented in docs/notifications.md. A
// type is "<subject>.<what happened>"; a webhook subscribes to a whole
// subject ("deploy") or to one type ("deploy.failed").
const (
	EventAppCreated        = "app.created"
	EventBuildStarted      = "build.started"
	EventBuildSucceeded    = "build.succeeded"
	EventBuildFailed       = "build.failed"
	EventBuildCachePurged  = "build.cache_purged"
	EventReleaseCreated    = "release.created"
	EventDeployStarted     = "deploy.started"
	EventDeploySucceeded   = "deploy.succeeded"
	EventDeployFailed      = "deploy.failed"
	EventRollbackManual    = "rollback.manual"
	EventRollbackAutomatic = "rollback.automatic"
	EventStandbyStopped    = "standby.stopped"
	EventInstanceCrashed   = "instance.crashed"
	EventInstanceOOMKilled = "instance.oom_killed"
	EventInstanceRestarted = "instance.restarted" // an app's processes started again: pier restart, or after the agent started
	EventRunStarted        = "run.started"
	EventScale             = "scale"
	EventConfigChanged     = "config.changed"
	EventSettingsChanged   = "settings.changed"
	EventDomainAdded       = "domain.added"
	EventDomainRemoved     = "domain.removed"
	EventCertIssued        = "cert.issued"
	EventCertFailed        = "cert.failed"
	EventCertExpiring      = "cert.expiring"
	EventMaintenanceOn     = "maintenance.on"
	EventMaintenanceOff    = "maintenance.off"
	EventAgentStarted      = "agent.started"
	EventAgentUpgraded     = "agent.upgraded"
	EventBackupSucceeded   = "backup.succeeded"
	EventBackupFailed      = "backup.failed"
	EventDrainDropped      = "drain.dropped"
	EventWebhookTest       = "webhook.test"
	EventCanaryStarted     = "canary.started"
	EventCanaryStep        = "canary.step" // a step passed and the canary's share grew
	EventCanaryPromoted    = "canary.promoted"
	EventCanaryFailed      = "canary.failed"  // its analysis failed, or it crashed: aborted
	EventCanaryAborted     = "canary.aborted" // by hand, a rollback or a restart
	EventAddonCreated      = "addon.created"
	EventAddonAttached     = "addon.attached"
	EventAddonDetached     = "addon.detached"
	EventAddonDestroyed    = "addon.destroyed"
	EventAddonServer       = "addon.server"       // its server crashed, came back, or was made again
	EventAddonSession      = "addon.session"      // pier pg psql, pier redis cli
	EventAddonBackup       = "addon.backup"       // pier pg backups capture or restore
	EventAddonBackupStale  = "addon.backup_stale" // pier backup could not back it up now
)

// EventTypes are every event type, in the order docs/notifications.md
// lists them.
var EventTypes = []string{
	EventAppCreated,
	EventBuildStarted, EventBuildSucceeded, EventBuildFailed, EventBuildCachePurged,
	EventReleaseCreated,
	EventDeployStarted, EventDeploySucceeded, EventDeployFailed,
	EventRollbackManual, EventRollbackAutomatic, EventStandbyStopped,
	EventCanaryStarted, EventCanaryStep, EventCanaryPromoted, EventCanaryFailed, EventCanaryAborted,
	EventInstanceCrashed, EventInstanceOOMKilled, EventInstanceRestarted, EventRunStarted,
	EventScale, EventConfigChanged, EventSettingsChanged,
	EventDomainAdded, EventDomainRemoved,
	EventCertIssued, EventCertFailed, EventCertExpiring,
	EventMaintenanceOn, EventMaintenanceOff,
	EventAgentStarted, EventAgentUpgraded,
	EventBackupSucceeded, EventBackupFailed,
	EventAddonCreated, EventAddonAttached, EventAddonDetached, EventAddonDestroyed,
	EventAddonServer, EventAddonSession, EventAddonBackup, EventAddonBackupStale,
	EventDrainDropped, EventWebhookTest,
}

// EventSubject is the part of an event type before its dot: "deploy" for
// "deploy.failed", "scale" for "scale".
func EventSubject(typ string) string {
	s, _, _ := strings.Cut(typ, ".")
	return s
}

// KnownEventFilter reports whether f names an event type or a subject of
// one: what a webhook may subscribe to.
func KnownEventFilter(f string) bool {
	return slices.ContainsFunc(EventTypes, func(t string) bool { return t == f || EventSubject(t) == f })
}

// MatchEvent reports whether an event of type typ passes filters (types or
// subjects); no filters pass every event.
func MatchEvent(filters []string, typ string) bool {
	if len(filters) == 0 {
		return true
	}
	return slices.ContainsFunc(filters, func(f string) bool { return f == typ || f == EventSubject(typ) })
}

// EventQuery selects events.
type EventQuery struct {
	After uint64        // only events with a greater ID
	Limit int           // only the last Limit (0: all kept)
	Wait  time.Duration // when none is newer than After, wait up to this long for one (a long poll)
}

// Events returns app's events, oldest first (app "": the platform's own).
func (c *Client) Events(ctx context.Context, app string, q EventQuery) ([]Event, error) {
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Wait > 0 {
		v.Set("wait", q.Wait.String())
	}
	path := "/v1/events"
	if app != "" {
		path = "/v1/apps/" + url.PathEscape(app) + "/events"
	}
	var es []Event
	err := c.do(ctx, http.MethodGet, path+"?"+v.Encode(), nil, &es)
	return es, err
}
