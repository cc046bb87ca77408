package agent

import (
	"net/http"
	"strings"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/dashboard"
)

// newDashboard builds the web dashboard over api, the agent's API handler:
// its pages call the API in-process with the signed-in token.
func (a *Agent) newDashboard(apiHandler http.Handler) (*dashboard.Dashboard, error) {
	return dashboard.New(dashboard.Options{
		API: apiHandler,
		Verify: func(secret, ip string) (api.Grant, string, error) {
			p, err := a.authenticate(secret, ip)
			if err != nil {
				return api.Grant{}, "", err
			}
			return p.Grant, p.name, nil
		},
		ClientIP: a.clientIP,
	})
}

// postDashboardLink answers POST /v1/dashboard/links (`pier dashboard`): a
// one-time login link for the token that asks.
func (a *Agent) postDashboardLink(w http.ResponseWriter, r *http.Request) error {
	secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	path, err := a.dash.NewLoginLink(secret, principalOf(r).name)
	if err != nil {
		return conflictf("%s", err.Error())
	}
	writeJSON(w, http.StatusCreated, api.DashboardLink{Path: path, ExpiresIn: int(dashboard.LoginLinkTTL.Seconds())})
	return nil
}
