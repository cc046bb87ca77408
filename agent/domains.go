package agent

import (
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

var labelRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`) })

// checkHost validates a custom domain for app.
func (a *Agent) checkHost(host string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	switch {
	case h == "":
		return "", invalidf("no domain given: pier domains add -a APP www.example.com")
	case strings.Contains(h, "*"):
		return "", invalidf("%q: wildcard domains are not supported; add each host name", host)
	case net.ParseIP(strings.Trim(h, "[]")) != nil:
		return "", invalidf("%q is an IP address; a domain needs a host name", host)
	case len(h) > 253 || !strings.Contains(h, "."):
		return "", invalidf("%q is not a valid domain name (like www.example.com)", host)
	case h == a.cfg.controlHost():
		return "", invalidf("%s is pier's control host and cannot be an app's domain", h)
	case strings.HasSuffix(h, "."+a.cfg.Domain) || h == a.cfg.Domain:
		return "", invalidf("%s is under pier's own domain %s, where every app already has APP.%s", h, a.cfg.Domain, a.cfg.Domain)
	}
	for _, l := range strings.Split(h, ".") {
		if !labelRE().MatchString(l) {
			return "", invalidf("%q is not a valid domain name: %q may hold only letters, digits and inner dashes", host, l)
		}
	}
	return h, nil
}

func (a *Agent) listDomains(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	ds, err := a.store.Domains(app.Name)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []api.Domain{}
	}
	writeJSON(w, 200, ds)
	return nil
}

func (a *Agent) addDomain(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.DomainRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	host, err := a.checkHost(req.Host)
	if err != nil {
		return err
	}
	d, err := a.store.AddDomain(app.Name, host)
	if errors.Is(err, store.ErrDomainTaken) {
		if owner, _ := a.store.DomainApp(host); owner == app.Name {
			return conflictf("%s is already a domain of %s", host, app.Name)
		}
		return conflictf("%s is already used by another app; remove it there first", host)
	}
	if err != nil {
		return err
	}
	a.refreshRoutes()
	a.manageCerts(app.Name)
	a.events.addData(app.Name, api.EventDomainAdded, userOf(r), api.EventData{"domain": host}, "Added domain %s", host)
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (a *Agent) removeDomain(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	host := strings.ToLower(r.PathValue("host"))
	if err := a.store.RemoveDomain(app.Name, host); err != nil {
		if errors.Is(err, store.ErrDomainNotFound) {
			return notFoundf("%s is not a domain of %s: see `pier domains -a %s`", host, app.Name, app.Name)
		}
		return err
	}
	a.refreshRoutes()
	if a.certs != nil {
		a.certs.Forget(host)
	}
	a.events.addData(app.Name, api.EventDomainRemoved, userOf(r), api.EventData{"domain": host}, "Removed domain %s", host)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// appHosts are every host name routed to app.
func appHosts(st *store.Store, cfg Config, app string) []string {
	hosts := []string{cfg.appHost(app)}
	ds, _ := st.Domains(app)
	for _, d := range ds {
		hosts = append(hosts, d.Host)
	}
	return hosts
}

func (a *Agent) getCerts(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.certsOf(app.Name))
	return nil
}

// certsOf is the state of the certificate of every host of app.
func (a *Agent) certsOf(app string) []api.Cert {
	hosts := appHosts(a.store, a.cfg, app)
	out := make([]api.Cert, 0, len(hosts))
	if a.certs == nil {
		for _, h := range hosts {
			out = append(out, api.Cert{Host: h, Status: "off", LastError: "HTTPS is off: start the agent with --https-addr"})
		}
		return out
	}
	for _, s := range a.certs.Status(hosts...) {
		out = append(out, api.Cert{Host: s.Host, Status: s.Status, Challenge: s.Challenge, Wildcard: s.Wildcard,
			Issuer: s.Issuer, NotAfter: s.NotAfter, LastError: s.LastError, NextRetry: s.NextRetry})
	}
	return out
}

// manageCerts starts obtaining certificates for every host of app.
func (a *Agent) manageCerts(app string) {
	if a.certs != nil {
		a.certs.Manage(a.ctx, appHosts(a.store, a.cfg, app))
	}
}

// allowedHost is certmagic's on-demand decision: only hosts pier routes.
func (a *Agent) allowedHost(host string) bool {
	host = strings.ToLower(host)
	if host == a.cfg.controlHost() {
		return true
	}
	if app, ok := strings.CutSuffix(host, "."+a.cfg.Domain); ok && appNameRE().MatchString(app) {
		_, err := a.store.GetApp(app)
		return err == nil
	}
	_, err := a.store.DomainApp(host)
	return err == nil
}
