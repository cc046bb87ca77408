package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy"
)

func proxyCommand() *ucli.Command {
	str := func(name, value, usage string, env string) *ucli.StringFlag {
		return &ucli.StringFlag{Name: name, Value: value, Usage: usage, EnvVars: []string{env}}
	}
	return &ucli.Command{
		Name:  "proxy",
		Usage: "run an edge proxy that follows the agent's routes over its API",
		Description: "Serves the apps of the agent at --api on --http-addr, as the agent's own proxy\n" +
			"does: it watches the agent's route table and checks each instance before it\n" +
			"sends it requests. pier.DOMAIN reaches the agent's API.",
		Flags: []ucli.Flag{
			str("api", "", "`URL` of the agent's API", "PIER_API"),
			str("token", "", "API token", "PIER_TOKEN"),
			str("http-addr", ":8080", "address of the HTTP proxy", envName("http-addr")),
			str("domain", "localhost", "apps are served at APP.`DOMAIN`", envName("domain")),
			str("trusted-proxies", "", "`CIDR,...` of load balancers whose X-Forwarded-For names the client", envName("trusted-proxies")),
			&ucli.IntFlag{Name: "max-conns", Value: 10000, Usage: "open connections the proxy accepts at most", EnvVars: []string{envName("max-conns")}},
		},
		Action: runProxy,
	}
}

func runProxy(c *ucli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("pier proxy takes no arguments, got %q (see `pier proxy --help`)", c.Args().First())
	}
	apiURL, token := c.String("api"), c.String("token")
	u, err := url.Parse(apiURL)
	if apiURL == "" || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("pier proxy needs the agent's API: --api http://HOST:PORT (or PIER_API)")
	}
	trusted, err := parseTrustedProxies(c.String("trusted-proxies"))
	if err != nil {
		return err
	}
	maxConns := c.Int("max-conns")
	if maxConns < 1 {
		return fmt.Errorf("--max-conns must be at least 1, got %d", maxConns)
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logf := func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) }
	domain := c.String("domain")
	e, err := proxy.NewEdge(proxy.EdgeConfig{
		Proxy: proxy.Config{
			Domain:         domain,
			ControlHost:    "pier." + domain,
			Control:        httputil.NewSingleHostReverseProxy(u),
			Logf:           logf,
			TrustedProxies: trusted,
		},
		Source:   &apiRoutes{c: api.NewClient(apiURL, token)},
		MaxConns: maxConns,
	})
	if err != nil {
		return err
	}
	defer e.Close()
	l, err := net.Listen("tcp", c.String("http-addr"))
	if err != nil {
		return fmt.Errorf("HTTP address %s: %w", c.String("http-addr"), err)
	}
	served := make(chan error, 1)
	go func() { served <- e.Serve(l, nil) }()
	log.Info("pier proxy ready", "http", l.Addr().String(), "api", apiURL, "domain", domain)
	select {
	case <-c.Context.Done():
	case err := <-served:
		return err
	}
	log.Info("pier proxy stopping")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = e.Shutdown(ctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// apiRoutes is the agent's route table followed over its API: a long poll
// of GET /v1/routes.
type apiRoutes struct{ c *api.Client }

func (s *apiRoutes) Next(ctx context.Context, after uint64) (proxy.RouteSet, error) {
	for {
		set, err := s.c.WatchRoutes(ctx, after)
		if err != nil {
			return proxy.RouteSet{}, err
		}
		if set.Version > after {
			return routeSetFromAPI(set), nil
		}
	}
}

func routeSetFromAPI(set api.RouteSet) proxy.RouteSet {
	out := proxy.RouteSet{Version: set.Version}
	for _, r := range set.Routes {
		d := proxy.DesiredRoute{
			Route: proxy.Route{
				App: r.App, Hosts: r.Hosts, Maintenance: r.Maintenance,
				RateLimit: proxy.RateLimit{RPS: r.RateLimitRPS, Burst: r.RateLimitBurst},
				Headers:   r.Headers,
				Health:    proxy.HealthCheck{Path: r.Health.Path, Content: r.Health.Content, Timeout: time.Duration(r.Health.Timeout)},
			},
			LiveSlot: r.LiveSlot,
		}
		for _, in := range r.Instances {
			d.Instances = append(d.Instances, proxy.Candidate{
				Upstream: proxy.Upstream{Addr: in.Addr, Name: in.Name, Slot: in.Slot, Release: in.Release},
				ID:       in.ID, Draining: in.Draining,
			})
		}
		out.Routes = append(out.Routes, d)
	}
	return out
}
