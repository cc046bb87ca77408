package agent

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// maxDrains caps an app's log drains: each one follows the app's logs.
const maxDrains = 5

func (a *Agent) listDrains(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	ds, err := a.store.Drains(app.Name)
	if err != nil {
		return err
	}
	for i := range ds {
		a.drains.status(&ds[i])
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

func (a *Agent) addDrain(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.DrainRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := a.checkDrainURL(r, req.URL)
	if err != nil {
		return err
	}
	if ds, err := a.store.Drains(app.Name); err != nil {
		return err
	} else if len(ds) >= maxDrains {
		return conflictf("%s has %d log drains already: remove one first", app.Name, len(ds))
	}
	d := api.Drain{
		ID: "d_" + randomHex(8), App: app.Name, URL: u.Scheme + "://" + u.Host,
		CreatedAt: time.Now().UTC(), CreatedBy: userOf(r),
	}
	if err := a.store.AddDrain(d, u.String()); err != nil {
		return err
	}
	a.drains.start(d)
	writeJSON(w, http.StatusCreated, d)
	return nil
}

// checkDrainURL validates a drain's URL: syslog://HOST:PORT,
// syslog+tls://HOST:PORT or https://HOST/PATH, nowhere a webhook could
// not go.
func (a *Agent) checkDrainURL(r *http.Request, raw string) (*url.URL, error) {
	const how = "give syslog://HOST:PORT, syslog+tls://HOST:PORT or https://HOST/PATH"
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, invalidf("log drain %q: %s", raw, how)
	}
	switch u.Scheme {
	case "syslog", "syslog+tls":
		if u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return nil, invalidf("log drain %q: a syslog drain is a host and a port, nothing else: %s", raw, how)
		}
	case "https":
		if _, err := a.drains.guard.checkURL(r.Context(), "log drain", raw, false); err != nil {
			return nil, err
		}
		return u, nil
	default:
		return nil, invalidf("log drain %q: %s", raw, how)
	}
	host := strings.ToLower(u.Hostname())
	if host == a.cfg.controlHost() {
		return nil, invalidf("log drain points at pier's own API (%s)", host)
	}
	ips := []netip.Addr{}
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = append(ips, ip)
	} else if found, err := net.DefaultResolver.LookupNetIP(r.Context(), "ip", host); err == nil {
		ips = found
	} else {
		return nil, invalidf("log drain host %s does not resolve: check the URL", host)
	}
	for _, ip := range ips {
		ap, err := netip.ParseAddrPort(net.JoinHostPort(ip.Unmap().String(), u.Port()))
		if err != nil {
			return nil, invalidf("log drain %q has a bad port", raw)
		}
		if err := a.drains.guard.checkAddr(ap, false); err != nil {
			return nil, invalidf("log drain: %v", err)
		}
	}
	return u, nil
}

func (a *Agent) removeDrain(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := a.store.RemoveDrain(app.Name, id); err != nil {
		return err
	}
	a.drains.stop(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
