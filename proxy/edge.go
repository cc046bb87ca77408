package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Edge is pier's edge as one unit: the proxy, its plain-HTTP server with
// the event loops, its HTTPS server with the certificates handed in, the
// vetting of instances, its metrics and its shutdown. It follows a
// RouteSource and serves what it gives; it needs nothing else of the agent,
// so the agent runs one in its own process and `pier proxy` could run one
// anywhere.
type Edge struct {
	cfg   EdgeConfig
	proxy *Proxy
	plain *Front
	tls   *Front // nil without Certs
	vet   vetting

	applyMu sync.Mutex // serializes building the routes, guards last and served
	last    RouteSet
	served  map[string][]Candidate // per app, the instances routed last

	ctx    context.Context // ends the following and the vettings at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// EdgeConfig is what NewEdge needs. Proxy.Registerer, when set, also gets
// the event loops' counters.
type EdgeConfig struct {
	Proxy  Config
	Source RouteSource
	// Certs, when set, serves HTTPS and answers ACME's HTTP challenges and
	// the redirects to HTTPS on the plain port; nil serves plain HTTP only.
	Certs Certs
	// MaxConns caps the connections each listener has open at once; more
	// wait in the kernel's backlog. 0: no cap.
	MaxConns int
	// Loops is the number of event loops for plain HTTP: 0 one per
	// processor, below 0 none (a goroutine per connection).
	Loops int
}

// Certs is what the Edge needs of a certificate manager (proxy/certs).
type Certs interface {
	// HTTPHandler wraps the plain-HTTP handler: ACME challenges and
	// redirects to HTTPS for hosts that have a certificate.
	HTTPHandler(next http.Handler) http.Handler
	// Passes reports whether HTTPHandler hands a request for host and path
	// straight to next.
	Passes(host, path string) bool
	TLSConfig() *tls.Config
}

// NewEdge builds the edge and starts following cfg.Source; Serve serves it.
func NewEdge(cfg EdgeConfig) (*Edge, error) {
	if cfg.Source == nil {
		return nil, errors.New("proxy: an Edge needs a RouteSource")
	}
	p := New(cfg.Proxy)
	e := &Edge{cfg: cfg, proxy: p, vet: newVetting(), served: map[string][]Candidate{}}
	e.ctx, e.cancel = context.WithCancel(context.Background())

	handler := http.Handler(p)
	loop := &LoopConfig{Proxy: p, Loops: cfg.Loops}
	if cfg.Certs != nil {
		handler = cfg.Certs.HTTPHandler(p)
		loop.Direct = cfg.Certs.Passes
	}
	e.plain = NewFront(handler, "")
	e.plain.Lean = p.Lean
	e.plain.MaxConns = cfg.MaxConns
	if cfg.Loops >= 0 {
		e.plain.Loop = loop
	}
	if reg := cfg.Proxy.Registerer; reg != nil {
		for _, c := range e.plain.Collectors() {
			if err := reg.Register(c); err != nil {
				p.cfg.Logf("proxy metrics: %v", err)
			}
		}
	}
	if cfg.Certs != nil {
		e.tls = NewFront(p, "")
		e.tls.Lean = p.Lean
		e.tls.TLSConfig = cfg.Certs.TLSConfig()
		e.tls.MaxConns = cfg.MaxConns
		if cfg.Loops >= 0 {
			e.tls.Loop = &LoopConfig{Proxy: p, Loops: cfg.Loops}
		}
	}
	e.wg.Add(1)
	go e.follow()
	return e, nil
}

// Proxy is the edge's proxy: its traffic counts and its known hosts.
func (e *Edge) Proxy() *Proxy { return e.proxy }

// Serve serves plain HTTP on plain and, with Certs, HTTPS on secure (nil:
// not that one) until Shutdown; it returns the first server's error, which
// is http.ErrServerClosed after a Shutdown.
func (e *Edge) Serve(plain, secure net.Listener) error {
	if secure != nil && e.tls == nil {
		return errors.New("proxy: an HTTPS listener needs the Edge's Certs")
	}
	if plain == nil && secure == nil {
		return errors.New("proxy: an Edge needs a listener to serve")
	}
	errs := make(chan error, 2)
	if plain != nil {
		go func() { errs <- e.plain.Serve(plain) }()
	}
	if secure != nil {
		go func() { errs <- e.tls.ServeTLS(secure) }()
	}
	return <-errs
}

// Shutdown stops accepting and lets the requests in flight finish (past
// ctx's end it closes what is left). The routes stay as they were.
func (e *Edge) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, f := range []*Front{e.plain, e.tls} {
		if f == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f.Shutdown(ctx) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops following the source, the vettings and the health checks,
// and closes the idle connections to instances.
func (e *Edge) Close() error {
	e.cancel()
	e.wg.Wait()
	return e.proxy.Close()
}

// follow applies each route set of the source as it comes, until Close.
func (e *Edge) follow() {
	defer e.wg.Done()
	var version uint64
	for {
		set, err := e.cfg.Source.Next(e.ctx, version)
		if e.ctx.Err() != nil {
			return
		}
		if err != nil {
			e.proxy.cfg.Logf("proxy: following the routes: %v", err)
			t := time.NewTimer(time.Second)
			select {
			case <-e.ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		e.applyMu.Lock()
		e.apply(set)
		e.applyMu.Unlock()
		version = set.Version
	}
}

// reapply builds the routes of the last set again, after a vetting passed.
func (e *Edge) reapply() {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.apply(e.last)
}

// apply turns set into the proxy's route table: each route gets the
// instances of its live slot that passed their check and do not drain.
// Those that have not passed yet, in any slot, are checked in the
// background, so that a slot is ready when it goes live. e.applyMu is held.
func (e *Edge) apply(set RouteSet) {
	e.last = set
	listed := map[string]bool{}
	for _, d := range set.Routes {
		for _, c := range d.Instances {
			listed[c.ID] = true
		}
	}
	e.vet.list(listed)
	routes := make([]Route, 0, len(set.Routes))
	served := make(map[string][]Candidate, len(set.Routes))
	for _, d := range set.Routes {
		r := d.Route
		var live, split []Candidate
		r.Releases = nil
		for _, c := range d.Instances {
			if !slices.Contains(r.Releases, c.Release) {
				r.Releases = append(r.Releases, c.Release)
			}
			switch {
			case c.Draining:
			case !e.vet.hasPassed(c.ID):
				e.vetLater(c, r.Health)
			case c.Slot == d.LiveSlot:
				live = append(live, c)
			case r.Split.active() && c.Slot == r.Split.Slot:
				split = append(split, c)
			}
		}
		if len(live) == 0 {
			live = e.holdOver(d)
		}
		served[r.App] = live
		r.Upstreams = make([]Upstream, 0, len(live)+len(split))
		for _, c := range append(live, split...) {
			r.Upstreams = append(r.Upstreams, c.Upstream)
		}
		routes = append(routes, r)
	}
	e.proxy.SetRoutes(routes)
	e.served = served
}

// holdOver returns the instances that served d's app before, while they
// still run and do not drain: until an instance of a newly live slot has
// passed its check here (an edge that did not run the deploy's gate checks
// it when the switch arrives), the slot before it goes on serving rather
// than the app answering 503. e.applyMu is held.
func (e *Edge) holdOver(d DesiredRoute) []Candidate {
	var out []Candidate
	for _, was := range e.served[d.App] {
		for _, c := range d.Instances {
			if c.ID == was.ID && !c.Draining {
				out = append(out, c)
			}
		}
	}
	return out
}
