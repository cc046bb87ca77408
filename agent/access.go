package agent

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pierhq/pier/api"
)

// Who may do what. Every API route names what it needs in apiRoutes, the
// one table the mux is built from, docs/security.md shows (a test keeps
// the two equal) and the access test walks.

// need is what a route asks of the token that calls it.
type need int

const (
	needToken   need = iota // any valid token
	needRead                // the read role on the app of the path
	needDeploy              // the deploy role on the app of the path
	needReadAll             // the read role on every app (a token not limited to apps)
	needAdmin               // the admin role
)

// String is how docs/security.md names a need.
func (n need) String() string {
	return [...]string{"any token", "read", "deploy", "read, every app", "admin"}[n]
}

// apiRoute is one route of the API: its pattern, what it needs and its
// handler.
type apiRoute struct {
	pattern string
	need    need
	handle  func(a *Agent, w http.ResponseWriter, r *http.Request) error
}

// apiRoutes are the API's routes. A new one states what it needs here.
var apiRoutes = []apiRoute{
	{"GET /v1/version", needToken, (*Agent).getVersion},
	{"POST /v1/dashboard/links", needToken, (*Agent).postDashboardLink}, // a login link for the token that asks
	{"GET /metrics", needReadAll, (*Agent).getMetrics},
	{"GET /v1/routes", needReadAll, (*Agent).getRoutes},   // what an edge (pier proxy) follows
	{"GET /v1/apps", needToken, (*Agent).listApps},        // lists the apps the token may read
	{"GET /v1/overview", needToken, (*Agent).getOverview}, // a row for each app the token may read
	{"POST /v1/apps", needAdmin, (*Agent).createApp},
	{"GET /v1/apps/{app}", needRead, (*Agent).getApp},
	{"DELETE /v1/apps/{app}", needAdmin, (*Agent).destroyApp},
	{"GET /v1/apps/{app}/releases", needRead, (*Agent).listReleases},
	{"GET /v1/apps/{app}/releases/{version}/config-changes", needRead, (*Agent).getConfigChanges}, // names only, against ?from=N
	{"GET /v1/apps/{app}/deploys/live", needRead, (*Agent).getDeployLive},                         // the push's output, as git push shows it
	{"POST /v1/apps/{app}/rollback", needDeploy, (*Agent).postRollback},
	{"GET /v1/apps/{app}/canary", needRead, (*Agent).getCanary},
	{"POST /v1/apps/{app}/canary", needDeploy, (*Agent).postCanary},
	{"POST /v1/apps/{app}/canary/{action}", needDeploy, (*Agent).postCanaryAction}, // promote, abort, pause, resume
	{"GET /v1/apps/{app}/ps", needRead, (*Agent).listInstances},
	{"POST /v1/apps/{app}/scale", needDeploy, (*Agent).postScale},
	{"POST /v1/apps/{app}/restart", needDeploy, (*Agent).postRestart},
	{"POST /v1/apps/{app}/run", needDeploy, (*Agent).postRun},
	{"GET /v1/apps/{app}/logs", needRead, (*Agent).getLogs},
	{"GET /v1/apps/{app}/events", needRead, (*Agent).getEvents},
	{"GET /v1/events", needReadAll, (*Agent).getPlatformEvents},
	{"GET /v1/apps/{app}/webhooks", needRead, (*Agent).listWebhooks},
	{"POST /v1/apps/{app}/webhooks", needDeploy, (*Agent).addWebhook},
	{"DELETE /v1/apps/{app}/webhooks/{id}", needDeploy, (*Agent).removeWebhook},
	{"GET /v1/apps/{app}/webhooks/{id}/deliveries", needRead, (*Agent).listDeliveries},
	{"POST /v1/apps/{app}/webhooks/{id}/test", needDeploy, (*Agent).testWebhook},
	{"GET /v1/webhooks", needAdmin, (*Agent).listWebhooks}, // platform-wide: every app's events
	{"POST /v1/webhooks", needAdmin, (*Agent).addWebhook},
	{"DELETE /v1/webhooks/{id}", needAdmin, (*Agent).removeWebhook},
	{"GET /v1/webhooks/{id}/deliveries", needAdmin, (*Agent).listDeliveries},
	{"POST /v1/webhooks/{id}/test", needAdmin, (*Agent).testWebhook},
	{"GET /v1/apps/{app}/drains", needRead, (*Agent).listDrains},
	{"POST /v1/apps/{app}/drains", needDeploy, (*Agent).addDrain},
	{"DELETE /v1/apps/{app}/drains/{id}", needDeploy, (*Agent).removeDrain},
	{"GET /v1/apps/{app}/config", needDeploy, (*Agent).getConfig}, // config values are secrets
	{"PATCH /v1/apps/{app}/config", needDeploy, (*Agent).patchConfig},
	{"GET /v1/apps/{app}/domains", needRead, (*Agent).listDomains},
	{"POST /v1/apps/{app}/domains", needDeploy, (*Agent).addDomain},
	{"DELETE /v1/apps/{app}/domains/{host}", needDeploy, (*Agent).removeDomain},
	{"GET /v1/apps/{app}/certs", needRead, (*Agent).getCerts},
	{"GET /v1/apps/{app}/metrics", needRead, (*Agent).getAppMetrics},
	{"GET /v1/apps/{app}/metrics/history", needRead, (*Agent).getMetricsHistory},
	{"GET /v1/apps/{app}/usage", needRead, (*Agent).getUsage},
	{"PUT /v1/apps/{app}/maintenance", needDeploy, (*Agent).putMaintenance},
	{"PATCH /v1/apps/{app}/settings", needAdmin, (*Agent).patchSettings},
	{"POST /v1/apps/{app}/purge-cache", needDeploy, (*Agent).purgeCache},
	{"GET /v1/apps/{app}/addons", needRead, (*Agent).listAddons},
	{"POST /v1/apps/{app}/addons", needDeploy, (*Agent).createAddon},
	{"GET /v1/apps/{app}/addons/{addon}", needRead, (*Agent).getAddon},
	{"DELETE /v1/apps/{app}/addons/{addon}", needDeploy, (*Agent).destroyAddon},       // and deploy on every app it is attached to
	{"POST /v1/apps/{app}/addons/{addon}/attach", needDeploy, (*Agent).attachAddon},   // and deploy on the app that owns it
	{"DELETE /v1/apps/{app}/addons/{addon}/attach", needDeploy, (*Agent).detachAddon}, // the app's attachment
	{"GET /v1/apps/{app}/pg/info", needRead, (*Agent).getPgInfo},
	{"POST /v1/apps/{app}/pg/psql", needDeploy, (*Agent).postPsql}, // the database's data: deploy, as config
	{"GET /v1/apps/{app}/pg/backups", needRead, (*Agent).listPgBackups},
	{"POST /v1/apps/{app}/pg/backups", needDeploy, (*Agent).capturePgBackup},
	{"GET /v1/apps/{app}/pg/backups/{backup}", needDeploy, (*Agent).downloadPgBackup},
	{"POST /v1/apps/{app}/pg/backups/{backup}/restore", needDeploy, (*Agent).restorePgBackup},
	{"POST /v1/apps/{app}/redis/cli", needDeploy, (*Agent).postRedisCLI},
	{"GET /v1/tokens", needAdmin, (*Agent).listTokens},
	{"POST /v1/tokens", needAdmin, (*Agent).createToken},
	{"DELETE /v1/tokens/{id}", needAdmin, (*Agent).revokeToken},
	{"POST /v1/tokens/rotate-admin", needAdmin, (*Agent).rotateAdminToken},
	{"POST /v1/secrets/rotate-key", needAdmin, (*Agent).rotateKeyHandler},
	{"GET /v1/keys", needAdmin, (*Agent).listKeys},
	{"POST /v1/keys", needAdmin, (*Agent).addKey},
	{"DELETE /v1/keys/{fp}", needAdmin, (*Agent).removeKey},
	{"GET /v1/audit", needAdmin, (*Agent).getAudit},
	{"POST /v1/backups", needAdmin, (*Agent).postBackup},
	{"GET /v1/pipelines", needReadAll, (*Agent).listPipelines},
	{"POST /v1/pipelines", needAdmin, (*Agent).createPipeline},
	{"GET /v1/pipelines/{pipeline}", needReadAll, (*Agent).getPipeline},
	{"DELETE /v1/pipelines/{pipeline}", needAdmin, (*Agent).destroyPipeline},
	{"POST /v1/pipelines/{pipeline}/apps", needAdmin, (*Agent).addPipelineApp},
	{"DELETE /v1/apps/{app}/pipeline", needAdmin, (*Agent).removePipelineApp},
	{"POST /v1/apps/{app}/promote", needRead, (*Agent).postPromote}, // and deploy on every app it promotes to
	{"PATCH /v1/pipelines/{pipeline}/review", needAdmin, (*Agent).patchReview},
	{"POST /v1/pipelines/{pipeline}/review-apps", needAdmin, (*Agent).postReviewApp},
}

// Git needs, which the git server asks for by what a request does.
const (
	gitFetchNeed = needRead   // clone, fetch, pull: over HTTP and SSH
	gitPushNeed  = needDeploy // push: over HTTP and SSH
)

// rank orders the roles: each allows what the ones before it do.
func rank(role string) int { return slices.Index(api.Roles, role) + 1 }

// principal is who calls: a token or an SSH key, and its grant.
type principal struct {
	name string
	via  string // "token" or "key"
	id   string // the token's id, the key's fingerprint
	api.Grant
}

// covers reports whether app is among the principal's apps.
func (p *principal) covers(app string) bool {
	return len(p.Apps) == 0 || slices.Contains(p.Apps, app)
}

// may reports whether the principal has role on app.
func (p *principal) may(role, app string) bool {
	return p.covers(app) && rank(p.Role) >= rank(role)
}

// check decides whether the principal may do what n asks on app (the
// path's, "" when it has none). An app outside the principal's apps is
// "not found", as one that does not exist, so that a token limited to
// some apps learns nothing of the others; a role too low is forbidden.
func (p *principal) check(n need, app string) error {
	switch n {
	case needToken:
		return nil
	case needRead, needDeploy:
		if !p.covers(app) {
			return notFoundf("app %q not found: see `pier apps list`", app)
		}
		role := api.RoleRead
		if n == needDeploy {
			role = api.RoleDeploy
		}
		if !p.may(role, app) {
			return forbiddenf("%s %q has the %s role on %s: this needs %s", p.via, p.name, p.Role, app, role)
		}
		return nil
	case needReadAll:
		if len(p.Apps) > 0 || rank(p.Role) < rank(api.RoleRead) {
			return forbiddenf("%s %q is limited to apps %s: this needs a token of every app", p.via, p.name, strings.Join(p.Apps, ", "))
		}
		return nil
	case needAdmin:
		if p.Role != api.RoleAdmin {
			return forbiddenf("%s %q has the %s role: this needs admin", p.via, p.name, p.Role)
		}
		return nil
	}
	return fmt.Errorf("unknown need %d", n)
}

type principalKey struct{}

// principalOf returns who made the request; nil outside an authenticated
// route.
func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// userOf returns who made the request (the token's name).
func userOf(r *http.Request) string {
	if p := principalOf(r); p != nil {
		return p.name
	}
	return ""
}

// tokenPrincipal is the principal of a verified token.
func tokenPrincipal(t api.Token) *principal {
	return &principal{name: t.Name, via: "token", id: t.ID, Grant: t.Grant}
}

// keyPrincipal is the principal of an SSH key.
func keyPrincipal(k api.Key) *principal {
	return &principal{name: k.Name, via: "key", id: k.Fingerprint, Grant: k.Grant}
}
