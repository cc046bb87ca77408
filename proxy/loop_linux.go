//go:build linux

package proxy

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Front's event loops. A goroutine per connection costs Go's scheduler a
// park and a wake on each side of every proxied request, about as much CPU
// as nginx spends on the whole hop. So on Linux, plain-HTTP connections go
// to a few event loops (one per processor) that each watch their client
// and instance connections with epoll and proxy requests for apps, without
// a goroutine or a net/http value.
//
// A loop serves a request only when the proxy would simply forward it: a
// head the lean rules accept (front_parse.go), no body or one that fits in
// the connection's buffer with the head, a host LoopConfig passes on to
// Proxy, an app that is not in maintenance, a client within its rate
// limit, a healthy instance. The first request that is anything else, and
// a request whose instance cannot be reached, takes the connection to
// Front's goroutines with the bytes not yet answered, where every case is
// handled as before, for as long as it stays open.

// Event-loop limits.
const (
	loopAnswerHeadMax = 64 << 10  // an answer's head; a larger one is a 502
	loopReadSize      = 32 << 10  // bytes read from an instance at once
	loopHighWater     = 256 << 10 // a client's unsent bytes past which its instance is not read
	loopLowWater      = 32 << 10  // and below which it is read again
	loopTick          = 250 * time.Millisecond
)

// loopGroup is Front's set of event loops.
type loopGroup struct {
	f      *Front
	p      *Proxy
	direct func(host, path string) bool
	loops  []*evLoop

	headerTimeout, idleTimeout time.Duration // a request head's, an idle connection's
	next                       atomic.Uint32
	ctx                        context.Context // ends dials once the front closes
	cancel                     context.CancelFunc
}

func newLoopGroup(f *Front, cfg *LoopConfig) (*loopGroup, error) {
	if cfg.Proxy == nil {
		return nil, errors.New("proxy: LoopConfig needs a Proxy")
	}
	n := cfg.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	g := &loopGroup{f: f, p: cfg.Proxy, direct: cfg.Direct,
		headerTimeout: cmp.Or(cfg.headerTimeout, ServerReadHeaderTimeout), idleTimeout: cmp.Or(cfg.idleTimeout, ServerIdleTimeout)}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for range n {
		l, err := newEvLoop(g)
		if err != nil {
			for _, l := range g.loops {
				l.ep.Close()
				unix.Close(l.evfd)
			}
			g.cancel()
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	for _, l := range g.loops {
		f.wg.Add(1)
		go l.run()
	}
	return g, nil
}

// add gives the accepted connection c to a loop; false leaves c to the
// caller. release runs once the connection is closed.
func (g *loopGroup) add(c *net.TCPConn, release func()) bool {
	remote, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return false
	}
	fd, err := dupFD(c)
	if err != nil {
		return false
	}
	c.Close() // the loop has its own descriptor of the socket
	l := g.loops[g.next.Add(1)%uint32(len(g.loops))]
	if !l.post(func() { l.addClient(fd, remote, release) }) {
		unix.Close(fd)
		release()
	}
	return true
}

// shutdown makes the loops close idle connections and, once their requests
// are answered, the others; a loop returns once it has none.
func (g *loopGroup) shutdown() {
	for _, l := range g.loops {
		l.post(func() { l.closing = true; l.sweep() })
	}
}

// closeAll closes every connection of the loops, which then return.
func (g *loopGroup) closeAll() {
	g.cancel()
	for _, l := range g.loops {
		l.post(func() { l.closing, l.exit = true, true })
	}
}

// dupFD returns a non-blocking, close-on-exec duplicate of c's descriptor.
func dupFD(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// evLoop is one event loop: an epoll set, the connections in it, and the
// idle connections to instances it keeps for its clients.
type evLoop struct {
	g     *loopGroup
	epfd  int
	ep    *os.File        // epfd, for Go's poller to wait on
	rc    syscall.RawConn // of ep
	evfd  int             // an eventfd that post wakes the loop with
	conns map[int32]*evConn
	pools map[*backend][]*evConn // idle instance connections, most recent last

	mu     sync.Mutex // guards tasks and exited
	tasks  []func()
	exited bool

	now       time.Time
	lastSweep time.Time
	closing   bool // no new requests; connections close once answered
	exit      bool // close everything and return
	clients   int
	date      dateCache
	buf       []byte // what an instance connection is read into
	events    []unix.EpollEvent
}

func newEvLoop(g *loopGroup) (*evLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	// The loop waits for its epoll set in Go's poller, as a goroutine
	// waits for a socket: blocked in epoll_wait itself, it would hold a
	// thread in a system call, which the scheduler works around with
	// more threads and wake-ups than the wait saves.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(evfd)
		return nil, err
	}
	return &evLoop{g: g, epfd: epfd, ep: ep, rc: rc, evfd: evfd, conns: map[int32]*evConn{}, pools: map[*backend][]*evConn{},
		buf: make([]byte, loopReadSize), events: make([]unix.EpollEvent, 256)}, nil
}

// post runs task on the loop; false once the loop has returned.
func (l *evLoop) post(task func()) bool {
	l.mu.Lock()
	if l.exited {
		l.mu.Unlock()
		return false
	}
	l.tasks = append(l.tasks, task)
	wake := len(l.tasks) == 1
	l.mu.Unlock()
	if wake {
		var one = [8]byte{1}
		unix.Write(l.evfd, one[:])
	}
	return true
}

func (l *evLoop) runTasks() {
	var b [8]byte
	unix.Read(l.evfd, b[:])
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, t := range tasks {
		t()
	}
}

func (l *evLoop) run() {
	defer l.g.f.wg.Done()
	defer l.shut()
	stopTicks := make(chan struct{})
	defer close(stopTicks)
	go l.tick(stopTicks)
	l.now = time.Now()
	l.lastSweep = l.now
	for !l.exit {
		n, err := epollPoll(l.epfd, l.events)
		if n == 0 && (err == nil || err == unix.EINTR) {
			if rerr := l.rc.Read(func(uintptr) bool {
				n, err = epollPoll(l.epfd, l.events)
				return n > 0 || err != nil && err != unix.EINTR
			}); rerr != nil {
				err = rerr
			}
		}
		if err != nil && err != unix.EINTR {
			l.g.f.logf("proxy: event loop: %v", err)
			l.exit = true
			break
		}
		l.now = time.Now()
		for i := 0; i < n && !l.exit; i++ {
			ev := l.events[i]
			if int(ev.Fd) == l.evfd {
				l.runTasks()
				continue
			}
			if c := l.conns[ev.Fd]; c != nil {
				l.handle(c, ev.Events)
			}
		}
		if l.now.Sub(l.lastSweep) >= loopTick {
			l.sweep()
		}
		if l.closing && l.clients == 0 {
			l.exit = true
		}
	}
}

// tick wakes the loop for its sweep while it has nothing else to do,
// until stop closes.
func (l *evLoop) tick(stop <-chan struct{}) {
	t := time.NewTicker(loopTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			l.post(func() {})
		}
	}
}

// shut closes what is left once the loop stops, and the tasks still
// posted, which may hold descriptors.
func (l *evLoop) shut() {
	for _, c := range l.conns {
		l.close(c)
	}
	for {
		l.mu.Lock()
		tasks := l.tasks
		l.tasks = nil
		if len(tasks) == 0 {
			l.exited = true
			l.mu.Unlock()
			break
		}
		l.mu.Unlock()
		for _, t := range tasks {
			t() // a closing loop closes what they bring
		}
		for _, c := range l.conns {
			l.close(c)
		}
	}
	l.ep.Close()
	unix.Close(l.evfd)
}

// evConn is a client's connection or an instance's.
type evConn struct {
	fd      int
	up      bool   // a connection to an instance
	in      []byte // read and not yet used
	out     []byte // to write
	events  uint32 // registered with epoll
	closed  bool
	peer    *evConn // the client, or the instance, of the request under way
	release func()

	// A client's.
	remote    netip.AddrPort
	remoteStr string
	x         *exchange // the request under way
	xs        exchange  // its storage
	deadline  time.Time // to close an idle connection or a slow head by
	partial   bool      // a head has begun
	closeOut  bool      // close once out is written
	handOver  bool      // hand to Front's goroutines once out is written

	// An instance's.
	be        *backend
	reused    bool
	got       bool // the answer has begun
	paused    bool // not read while its client catches up
	idleSince time.Time
}

// exchange is one request from a client to an instance and its answer.
type exchange struct {
	start      time.Time
	method     string
	host       string
	path       string
	route      *route
	st         reqState // for the log and counters
	headLen    int      // the request's head in the client's buffer
	req        []byte   // the request for the instance
	deadline   time.Time
	headDone   bool // the answer's head is read
	sent       bool // the client's head is in its out buffer
	mode       int  // body framing, below
	remain     int64
	chunks     chunkScanner
	keepUp     bool
	closeAfter bool
	dialing    bool
	recorded   bool // the log line is written
	idempotent bool // the request may be sent again
	reqSent    bool // the whole request is written to the instance
	fields     []headerField
	answer     answerHead

	// An answer without a Content-Type gets one sniffed from its first
	// bytes, as net/http writes it: its head waits for them.
	sniff bool
	head  []byte // the client's head without its final CRLF
	held  []byte // the answer's bytes held back meanwhile
}

// Answer body framing.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyToClose
)

func (l *evLoop) register(c *evConn, events uint32) bool {
	c.events = events
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd)}); err != nil {
		return false
	}
	l.conns[int32(c.fd)] = c
	return true
}

func (l *evLoop) setEvents(c *evConn, events uint32) {
	if c.closed || c.events == events {
		return
	}
	c.events = events
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd)})
}

const (
	evRead  = unix.EPOLLIN | unix.EPOLLRDHUP
	evWrite = unix.EPOLLOUT
)

// wantEvents sets what c waits for: reading unless paused, writing while
// out holds bytes.
func (l *evLoop) wantEvents(c *evConn) {
	var ev uint32
	switch {
	case c.paused:
		// Nothing, not even the instance's close, which would be reported
		// until its bytes were read; a reset still is (EPOLLERR).
	case !c.up && (len(c.in) == cap(c.in) || c.handOver):
		ev = unix.EPOLLRDHUP // a client leaving while its requests wait
	default:
		ev = evRead
	}
	if len(c.out) > 0 {
		ev |= evWrite
	}
	l.setEvents(c, ev)
}

func (l *evLoop) close(c *evConn) {
	if c.closed {
		return
	}
	c.closed = true
	delete(l.conns, int32(c.fd))
	// Out of the epoll set first: closing leaves it only when no other
	// descriptor shares the socket, and a connection handed over has one.
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	if !c.up {
		l.clients--
		clientBufs.Put(c.in[:0:cap(c.in)])
		c.in = nil
	}
	if c.release != nil {
		c.release()
	}
}

var clientBufs = sync.Pool{New: func() any { return make([]byte, 0, frontBufSize) }}

func (l *evLoop) addClient(fd int, remote netip.AddrPort, release func()) {
	if l.closing {
		unix.Close(fd)
		release()
		return
	}
	c := &evConn{fd: fd, remote: remote, release: release, in: clientBufs.Get().([]byte)}
	c.remoteStr = remote.String()
	c.deadline = l.now.Add(l.g.headerTimeout)
	if !l.register(c, evRead) {
		unix.Close(fd)
		release()
		return
	}
	l.clients++
}

func (l *evLoop) handle(c *evConn, ev uint32) {
	if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 && len(c.out) > 0 {
		if !l.flush(c) {
			return
		}
	}
	if c.closed || ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	if c.up {
		l.readInstance(c)
	} else {
		l.readClient(c, ev)
	}
}

// flush writes c.out; false when c is gone.
func (l *evLoop) flush(c *evConn) bool {
	rest, err := writeSome(c.fd, c.out)
	if err != nil {
		l.gone(c)
		return false
	}
	c.out = c.out[:copy(c.out, rest)]
	if len(c.out) == 0 && cap(c.out) > loopLowWater {
		c.out = nil // a large answer's buffer is not kept for the connection's life
	}
	if c.up {
		if len(c.out) == 0 && c.peer != nil && c.peer.x != nil {
			c.peer.x.reqSent = true
		}
		l.wantEvents(c)
		return true
	}
	if u := c.peer; u != nil && u.paused && len(c.out) <= loopLowWater {
		u.paused = false
		l.wantEvents(u)
	}
	if len(c.out) == 0 {
		switch {
		case c.closeOut:
			l.close(c)
			return false
		case c.handOver:
			l.handOverClient(c)
			return false
		}
	}
	l.wantEvents(c)
	return true
}

// send writes b to c, keeping what the socket does not take; false when
// c is gone.
func (l *evLoop) send(c *evConn, b []byte) bool {
	if len(c.out) == 0 {
		rest, err := writeSome(c.fd, b)
		if err != nil {
			l.gone(c)
			return false
		}
		if len(rest) == 0 {
			return true
		}
		b = rest
	}
	c.out = append(c.out, b...)
	l.wantEvents(c)
	return true
}

// writeSome writes b to fd until it is all written or the socket takes no
// more; it returns what is left, and an error when the connection failed.
func writeSome(fd int, b []byte) ([]byte, error) {
	for len(b) > 0 {
		n, err := sysWrite(fd, b)
		switch {
		case n > 0:
			b = b[n:]
		case err == unix.EAGAIN:
			return b, nil
		case err == unix.EINTR:
		case err != nil:
			return b, err
		default:
			return b, io.ErrShortWrite
		}
	}
	return b, nil
}

// gone handles a connection that failed or closed.
func (l *evLoop) gone(c *evConn) {
	if c.up {
		l.instanceGone(c)
		return
	}
	if x := c.x; x != nil {
		if u := c.peer; u != nil {
			c.peer, u.peer = nil, nil
			l.close(u)
		}
		if !x.headDone {
			x.st.fail(statusClientClosed, "client closed the request")
		}
		l.record(c, x)
		c.x = nil
	}
	l.close(c)
}

func (l *evLoop) readClient(c *evConn, ev uint32) {
	if len(c.in) == cap(c.in) || c.handOver {
		if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			l.gone(c) // the client left while its requests wait
		} else {
			l.wantEvents(c)
		}
		return
	}
	n, err := sysRead(c.fd, c.in[len(c.in):cap(c.in)])
	if n > 0 {
		c.in = c.in[:len(c.in)+n]
		if c.x == nil {
			l.serveClient(c)
		} else if len(c.in) == cap(c.in) {
			l.wantEvents(c) // pipelined requests wait for the answer
		}
		return
	}
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	l.gone(c)
}

// serveClient starts the next request in c's buffer, or waits for one.
func (l *evLoop) serveClient(c *evConn) {
	if c.closed || c.x != nil {
		return
	}
	if len(c.in) == 0 {
		if l.closing {
			l.close(c)
			return
		}
		c.partial = false
		c.deadline = l.now.Add(l.g.idleTimeout)
		l.wantEvents(c)
		return
	}
	if !c.partial {
		c.partial = true
		c.deadline = l.now.Add(l.g.headerTimeout)
	}
	i := bytes.Index(c.in, crlfcrlf)
	if i < 0 {
		if len(c.in) >= cap(c.in) || bytes.Contains(c.in, lflf) {
			l.handOverClient(c)
			return
		}
		l.wantEvents(c)
		return
	}
	head := c.in[:i+4]
	if bytes.Contains(head, lflf) {
		l.handOverClient(c)
		return
	}
	switch l.start(c, head) {
	case startWait:
		l.wantEvents(c) // for the rest of the body
	case startNo:
		l.handOverClient(c)
	}
}

// What start does with a request.
const (
	startNo   = iota // not for the loop
	startOK          // sent, or being sent
	startWait        // its body is not all here yet
)

// start begins the exchange for the request whose head is head, or says
// it is not one the loop serves, or must wait for the rest of its body.
// A body must fit in the connection's buffer with its head, as on Front's
// goroutines; larger ones are streamed there.
func (l *evLoop) start(c *evConn, head []byte) int {
	g := l.g
	p := g.p
	s := string(head)
	line, rest, _ := strings.Cut(s, "\r\n")
	var lr leanRequest
	if !lr.requestLine(line) {
		return startNo
	}
	x := &c.xs
	fields := x.fields[:0]
	ok := scanFields(rest, func(key, value string) bool {
		keep, ok := lr.field(key, value)
		if ok && keep {
			fields = append(fields, headerField{key, value})
		}
		return ok
	})
	x.fields = fields
	if !ok || !lr.complete(nil) || len(head)+lr.bodyLen > cap(c.in) {
		return startNo
	}
	if len(c.in) < len(head)+lr.bodyLen {
		return startWait
	}
	body := c.in[len(head) : len(head)+lr.bodyLen]
	// The target the instance gets, as Front's goroutines send it: the
	// URL's RequestURI, with the query cleaned.
	path, query, hasQuery := strings.Cut(lr.target, "?")
	if strings.IndexByte(lr.target, '%') >= 0 || strings.IndexByte(lr.target, '#') >= 0 || !escapedAsIs(path) {
		u, ok := parseTarget(lr.target)
		if !ok {
			return startNo
		}
		path = u.Path
		u.RawQuery = cleanQuery(u.RawQuery)
		lr.target = u.RequestURI()
	} else if hasQuery {
		if q := cleanQuery(query); q != query {
			lr.target = path + "?" + q
		}
	}
	if g.direct != nil && !g.direct(lr.host, path) {
		return startNo
	}
	ar := arrival{host: lr.host, peer: c.remote.Addr().Unmap(), remote: c.remoteStr, bodyLen: int64(lr.bodyLen)}
	for _, f := range fields {
		ar.readForwarding(f.key, f.value)
	}
	*x = exchange{start: l.now, method: lr.method, host: lr.host, path: path,
		headLen: len(head) + lr.bodyLen, closeAfter: lr.closeAfter || l.closing, req: x.req[:0], fields: fields,
		idempotent: replayableMethod(lr.method),
		deadline:   l.now.Add(p.cfg.ResponseHeaderTimeout)}
	st := &x.st
	st.p, st.start = p, l.now
	if p.admit(st, &ar) != forwardIt {
		return startNo // Front's goroutines answer
	}
	x.route = st.route
	b := st.backend
	var conn []string
	for _, f := range fields {
		if f.key == "Connection" {
			conn = append(conn, f.value)
		}
	}
	o := outHead{method: lr.method, target: lr.target, host: lr.host, fields: fields, conn: conn, bodyLen: len(body)}
	x.req = appendRequestHead(x.req, &o, &st.fwd)
	x.req = append(x.req, body...)
	c.x = x
	g.f.looped.Add(1)
	l.sendRequest(c, b)
	return startOK
}

// escapedAsIs reports whether url.URL writes path back unchanged: it holds
// only unreserved characters and those a path keeps.
func escapedAsIs(path string) bool {
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.~$&+,/:;=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// sendRequest sends c's request on an idle connection to b, or dials one.
func (l *evLoop) sendRequest(c *evConn, b *backend) {
	pool := l.pools[b]
	for len(pool) > 0 {
		u := pool[len(pool)-1]
		pool[len(pool)-1] = nil
		pool = pool[:len(pool)-1]
		l.pools[b] = pool
		if u.closed {
			continue
		}
		u.reused = true
		l.attach(c, u)
		return
	}
	c.x.dialing = true
	x := c.x
	addr := b.up.Addr
	ctx := l.g.ctx
	go func() { // ends within dialTimeout, or when the front closes
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		nc, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(ctx, "tcp", addr)
		cancel()
		fd := -1
		if err == nil {
			fd, err = dupFD(nc.(*net.TCPConn))
			nc.Close()
		}
		if !l.post(func() { l.dialed(c, x, b, fd, err) }) && fd >= 0 {
			unix.Close(fd)
		}
	}()
}

// dialed receives a new connection to b for c's exchange x.
func (l *evLoop) dialed(c *evConn, x *exchange, b *backend, fd int, err error) {
	var u *evConn
	if fd >= 0 {
		u = &evConn{fd: fd, up: true, be: b}
		if !l.register(u, evRead) {
			unix.Close(fd)
			u, err = nil, errors.New("registering the connection failed")
		}
	}
	if c.closed || c.x != x || !x.dialing {
		if u != nil {
			l.putIdle(u) // the client left; another may use it
		}
		return
	}
	x.dialing = false
	if u == nil {
		// The instance cannot be reached: Front's goroutines send the
		// request again, take the instance out of rotation and try the
		// next one, or answer 502.
		c.x = nil
		l.handOverClient(c)
		return
	}
	l.attach(c, u)
}

func (l *evLoop) attach(c *evConn, u *evConn) {
	c.peer, u.peer = u, c
	u.in, u.got, u.paused = u.in[:0], false, false
	x := c.x
	l.send(u, x.req)
	if !u.closed {
		x.reqSent = len(u.out) == 0
		l.wantEvents(u)
	}
}

// putIdle keeps u for the next request to its instance.
func (l *evLoop) putIdle(u *evConn) {
	if u.closed {
		return
	}
	if l.closing || len(u.in) > 0 || len(l.pools[u.be]) >= maxIdleConnsPerHost || u.be.pool.isClosed() {
		l.close(u)
		return
	}
	u.peer, u.paused, u.idleSince = nil, false, l.now
	u.out = u.out[:0]
	if cap(u.in) > 16<<10 {
		u.in = nil // a large answer head's buffer
	}
	l.pools[u.be] = append(l.pools[u.be], u)
	l.wantEvents(u)
}

func (l *evLoop) readInstance(u *evConn) {
	c := u.peer
	if c == nil {
		l.close(u) // an idle connection the instance closed, or that sent what was not asked for
		return
	}
	x := c.x
	if !x.headDone && len(u.in) == cap(u.in) {
		if cap(u.in) >= loopAnswerHeadMax {
			l.failAnswer(c, u, http.StatusBadGateway, "the answer's headers are too large")
			return
		}
		u.in = append(u.in, make([]byte, max(4<<10, cap(u.in)))...)[:len(u.in)]
	}
	var n int
	var err error
	if x.headDone {
		n, err = sysRead(u.fd, l.buf) // the body goes straight on
	} else {
		n, err = sysRead(u.fd, u.in[len(u.in):cap(u.in)])
	}
	if n <= 0 {
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		l.instanceGone(u)
		return
	}
	u.got = true
	if x.headDone {
		l.relay(c, u, l.buf[:n])
		return
	}
	u.in = u.in[:len(u.in)+n]
	l.answer(c, u)
}

// answer reads the answer's head from u.in and starts the body.
func (l *evLoop) answer(c *evConn, u *evConn) {
	x := c.x
	for !x.headDone {
		i := bytes.Index(u.in, crlfcrlf)
		if i < 0 {
			if len(u.in) >= loopAnswerHeadMax {
				l.failAnswer(c, u, http.StatusBadGateway, "the answer's headers are too large")
			}
			return
		}
		head := u.in[:i+4]
		code, ok := l.writeAnswerHead(c, x, head)
		if c.closed {
			return // gone while a 1xx answer was written
		}
		if !ok {
			l.failAnswer(c, u, http.StatusBadGateway, "malformed answer from the instance")
			return
		}
		u.in = u.in[:copy(u.in, u.in[i+4:])]
		if code < 200 {
			continue
		}
		x.headDone = true
		// The request is answered: its head leaves the client's buffer.
		c.in = c.in[:copy(c.in, c.in[x.headLen:])]
	}
	body := u.in
	u.in = u.in[:0]
	l.relay(c, u, body)
}

// writeAnswerHead parses an answer's head and puts the client's version of
// it in c.out: hop-by-hop fields dropped, security headers, the request ID
// and Date added, framing kept. 1xx answers other than 100 are passed on.
func (l *evLoop) writeAnswerHead(c *evConn, x *exchange, head []byte) (code int, ok bool) {
	line, rest, _ := strings.Cut(string(head), "\r\n")
	a := &x.answer
	if !a.statusLine(line) || a.code == http.StatusSwitchingProtocols {
		return 0, false // no upgrade was asked for
	}
	code = a.code
	fields := x.fields[:0] // the request's fields are sent
	ok = scanFields(rest, func(key, value string) bool {
		keep, ok := a.field(key, value)
		if ok && keep {
			fields = append(fields, headerField{key, value})
		}
		return ok
	})
	x.fields = fields[:0]
	if !ok {
		return 0, false
	}
	if code < 200 {
		if code == http.StatusContinue {
			return code, true
		}
		out := append(c.out, "HTTP/1.1 "...)
		out = append(out, a.status...)
		out = append(out, "\r\n"...)
		for _, f := range fields {
			if !hopField(f.key, a.conn) {
				out = appendField(out, f.key, f.value)
			}
		}
		c.out = append(out, "\r\n"...)
		return code, l.flush(c)
	}
	noBody := x.method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	switch {
	case noBody:
		x.mode = bodyNone
	case a.chunked:
		x.mode = bodyChunked
		x.chunks = chunkScanner{}
	case a.hasCL:
		x.mode, x.remain = bodyLength, a.cl
	default:
		x.mode = bodyToClose
	}
	x.keepUp = !a.closeConn && (a.proto == "HTTP/1.1" || a.keepAlive) && x.mode != bodyToClose
	if x.mode == bodyToClose || l.closing {
		x.closeAfter = true
	}
	x.sniff = !a.hasType && x.mode != bodyNone && !(x.mode == bodyLength && a.cl == 0)
	x.st.upstreamStatus = code
	rt := x.route

	out := append(c.out, "HTTP/1.1 "...)
	out = append(out, a.status...)
	if len(a.status) == 3 {
		out = append(out, ' ')
		out = append(out, http.StatusText(code)...)
	}
	out = append(out, "\r\n"...)
	for _, f := range fields {
		switch {
		case f.key == "Transfer-Encoding" || f.key == "Content-Length":
			continue // the framing, written below
		case f.key == "Trailer" && x.mode == bodyChunked:
			// passed on with the chunks
		case !passAnswerField(rt, f.key, a.conn):
			continue
		}
		out = appendField(out, f.key, f.value)
	}
	has := func(k string) bool {
		for _, f := range fields {
			if f.key == k && !hopField(k, a.conn) {
				return true
			}
		}
		return false
	}
	addAnswerFields(rt, false, x.st.fwd[3:4:4], has, func(k string, vv []string) {
		for _, v := range vv {
			out = appendField(out, k, v)
		}
	})
	if !a.hasDate {
		out = appendField(out, "Date", l.date.format(l.now))
	}
	switch {
	case x.mode == bodyChunked:
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	case a.hasCL && (x.mode == bodyLength || x.method == http.MethodHead || code == http.StatusNotModified):
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, a.cl, 10)
		out = append(out, "\r\n"...)
	}
	if x.closeAfter {
		out = append(out, "Connection: close\r\n"...)
	}
	if x.sniff {
		x.head = append(x.head[:0], out[len(c.out):]...)
		x.held = x.held[:0]
		return code, true
	}
	c.out = append(out, "\r\n"...)
	x.sent = true
	return code, true
}

// releaseHead puts the held head in c.out, with the Content-Type sniffed
// from data, and the held bytes after it.
func (x *exchange) releaseHead(c *evConn, data []byte) {
	out := append(c.out, x.head...)
	if len(data) > 0 {
		out = appendField(out, "Content-Type", http.DetectContentType(data))
	}
	out = append(out, "\r\n"...)
	c.out = append(out, x.held...)
	x.sniff, x.sent = false, true
}

// relay passes body bytes of the answer to the client, after whatever
// c.out already holds, and ends the exchange with the body.
func (l *evLoop) relay(c *evConn, u *evConn, b []byte) {
	x := c.x
	done := false
	switch x.mode {
	case bodyNone:
		done = true
		if len(b) > 0 {
			x.keepUp = false // more than the answer
		}
		b = nil
	case bodyLength:
		if int64(len(b)) >= x.remain {
			if int64(len(b)) > x.remain {
				x.keepUp = false
			}
			b = b[:x.remain]
			done = true
		}
		x.remain -= int64(len(b))
	case bodyChunked:
		if x.sniff {
			x.chunks.data = &x.chunks.sniffed
		}
		before := x.chunks.dataLen
		n, end, err := x.chunks.scan(b)
		x.st.bytes += x.chunks.dataLen - before // the body, not its framing, as on Front's goroutines
		if err != nil {
			x.st.errText = u.be.up.Name + ": " + err.Error()
			x.closeAfter, x.keepUp = true, false
			done = true
		}
		if n < len(b) {
			x.keepUp = false
		}
		b, done = b[:n], done || end
	}
	if x.mode != bodyChunked {
		x.st.bytes += int64(len(b))
	}
	if x.st.status == 0 {
		x.st.status = x.st.upstreamStatus
	}
	if x.sniff {
		x.held = append(x.held, b...)
		data := x.held
		if x.mode == bodyChunked {
			data = x.chunks.sniffed
		}
		// A streamed body is sniffed from its first bytes, as Front's
		// goroutines flush each read; a sized one from its first 512.
		if !done && (len(data) == 0 || x.mode == bodyLength && len(data) < sniffLen) {
			return // more of the body first
		}
		x.releaseHead(c, data[:min(len(data), sniffLen)])
		b = nil
	}
	if done {
		l.record(c, x) // before the client can see the end, as on Front's goroutines
	}
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		if !l.flush(c) {
			return
		}
	} else if !l.send(c, b) {
		return
	}
	if done {
		l.endExchange(c, u)
		return
	}
	if len(c.out) > loopHighWater && !u.paused {
		u.paused = true
		l.wantEvents(u)
	}
}

// endExchange ends c's exchange once the answer is all in c.out.
func (l *evLoop) endExchange(c *evConn, u *evConn) {
	x := c.x
	c.peer, u.peer = nil, nil
	if x.keepUp {
		l.putIdle(u)
	} else {
		l.close(u)
	}
	l.record(c, x)
	c.x = nil
	if x.closeAfter || l.closing {
		c.closeOut = true
		l.flush(c)
		return
	}
	l.serveClient(c) // a pipelined request
}

// record writes the exchange's log line and counts it, once.
func (l *evLoop) record(c *evConn, x *exchange) {
	if x.recorded {
		return
	}
	x.recorded = true
	x.st.finish(x.host, x.method, x.path)
}

// instanceGone handles an instance connection that closed or failed.
func (l *evLoop) instanceGone(u *evConn) {
	c := u.peer
	if c == nil {
		l.close(u)
		return
	}
	x := c.x
	switch {
	case x.headDone && x.mode == bodyToClose:
		x.keepUp = false
		if x.sniff {
			x.releaseHead(c, x.held[:min(len(x.held), sniffLen)])
			if !l.flush(c) {
				return
			}
		}
		l.endExchange(c, u)
	case x.headDone && x.sniff:
		l.failAnswer(c, u, http.StatusBadGateway, "the connection closed in the middle of the answer")
	case x.headDone:
		// Cut short: the client sees the answer end early, as on Front's
		// goroutines.
		x.st.errText = u.be.up.Name + ": the connection closed in the middle of the answer"
		c.peer, u.peer = nil, nil
		l.close(u)
		l.record(c, x)
		c.x = nil
		c.closeOut = true
		l.flush(c)
	case !u.got && !resendable(x.idempotent, x.reqSent):
		// The instance may have acted on it: not sent again, as on
		// Front's goroutines.
		l.failAnswer(c, u, http.StatusBadGateway, "the connection closed before an answer")
	case !u.got:
		// Nothing came back: the instance closed a pooled connection as
		// the request went out, or died. Front's goroutines send it again
		// (it may be, or it did not all go out), and take over the
		// connection.
		c.peer, u.peer = nil, nil
		l.close(u)
		c.x = nil
		l.handOverClient(c)
	default:
		l.failAnswer(c, u, http.StatusBadGateway, "the connection closed in the middle of the answer's headers")
	}
}

// failAnswer answers the client with an error page, once no byte of the
// instance's answer has been sent to it.
func (l *evLoop) failAnswer(c *evConn, u *evConn, status int, why string) {
	x := c.x
	c.peer, u.peer = nil, nil
	l.close(u)
	if x.sent {
		x.st.errText = u.be.up.Name + ": " + why
		l.record(c, x)
		c.x = nil
		c.closeOut = true
		l.flush(c)
		return
	}
	if !x.headDone {
		c.in = c.in[:copy(c.in, c.in[x.headLen:])]
		x.headDone = true
	}
	x.sniff, x.sent = false, true
	rec := &pageRecorder{header: http.Header{}}
	st := &x.st
	st.ResponseWriter = rec
	st.fail(status, u.be.up.Name+": "+why)
	pg := badGatewayPage
	if status == http.StatusGatewayTimeout {
		pg = timeoutPage
	}
	writePage(st, status, pg, x.route.App)
	st.ResponseWriter = nil
	out := append(c.out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	out = append(out, "\r\n"...)
	for k, vv := range rec.header {
		for _, v := range vv {
			out = appendField(out, k, v)
		}
	}
	out = appendField(out, "Date", l.date.format(l.now))
	out = append(out, "Content-Length: "...)
	out = strconv.AppendInt(out, int64(rec.body.Len()), 10)
	out = append(out, "\r\n"...)
	if x.closeAfter {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	if x.method != http.MethodHead {
		out = append(out, rec.body.Bytes()...)
	}
	c.out = out
	l.record(c, x)
	c.x = nil
	if x.closeAfter || l.closing {
		c.closeOut = true
		l.flush(c)
		return
	}
	if l.flush(c) {
		l.serveClient(c)
	}
}

// pageRecorder holds an error page the loop then writes.
type pageRecorder struct {
	header http.Header
	body   bytes.Buffer
}

func (r *pageRecorder) Header() http.Header         { return r.header }
func (r *pageRecorder) WriteHeader(int)             {}
func (r *pageRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// handOverClient gives c to Front's goroutines with the bytes it has not
// answered, once what it was sent is written.
func (l *evLoop) handOverClient(c *evConn) {
	if len(c.out) > 0 {
		c.handOver = true
		l.wantEvents(c)
		return
	}
	pending := append([]byte(nil), c.in...)
	release := c.release
	c.release = nil
	fd, err := unix.FcntlInt(uintptr(c.fd), unix.F_DUPFD_CLOEXEC, 0)
	l.close(c)
	if err != nil {
		release()
		return
	}
	f := os.NewFile(uintptr(fd), "client")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		release()
		return
	}
	var conn net.Conn = &releaseConn{Conn: nc, release: release}
	if len(pending) > 0 {
		conn = &handedOffConn{Conn: conn, pending: pending}
	}
	l.g.f.loopHandedOff.Add(1)
	l.g.f.startConn(conn, nil)
}

// sweep closes what has waited too long: idle clients and slow heads,
// answers that do not come, instance connections idle too long; while
// closing, idle clients.
func (l *evLoop) sweep() {
	l.lastSweep = l.now
	for _, c := range l.conns {
		if c.closed {
			continue
		}
		if c.up {
			if c.peer == nil && l.now.Sub(c.idleSince) > idleConnTimeout {
				l.close(c)
			}
			continue
		}
		x := c.x
		switch {
		case x == nil && (l.now.After(c.deadline) || l.closing && len(c.in) == 0 && len(c.out) == 0):
			l.close(c)
		case x != nil && !x.headDone && !x.dialing && l.now.After(x.deadline) && c.peer != nil:
			l.failAnswer(c, c.peer, http.StatusGatewayTimeout, "did not answer in time")
		}
	}
	for b, pool := range l.pools {
		live := pool[:0]
		for _, u := range pool {
			if !u.closed {
				live = append(live, u)
			}
		}
		clear(pool[len(live):])
		if len(live) == 0 {
			delete(l.pools, b)
		} else {
			l.pools[b] = live
		}
	}
}

// The loops' system calls never block (every descriptor is non-blocking,
// epoll is asked with a zero timeout), so they are made raw: without
// telling the scheduler, which otherwise gets ready to hand the thread's
// processor to another thread, and whose monitor wakes to check on it.

func sysRead(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func sysWrite(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// epollPoll returns the events ready now, without waiting.
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
