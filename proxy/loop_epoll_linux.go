//go:build linux

package proxy

import (
	"io"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An event loop's machinery: the epoll set and the tasks posted to it, the
// connections in it (evConn, a client's or an instance's) and what each waits for, non-blocking writes with what
// the socket did not take kept for later, the sweep of what waited too
// long, and the raw system calls. What a connection does with its bytes is
// in loop_client_linux.go (clients), loop_upstream_linux.go (instances)
// and loop_answer_linux.go (answers).

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
	lower     map[string]string // HTTP/2's lower-case field names (loop_h2_answer_linux.go)
	h2Free    []*h2Stream       // HTTP/2 streams to use again (loop_h2_stream_linux.go)
	h2Done    []*h2Stream       // and those to recycle after this batch of events
	buf       []byte            // what an instance connection is read into
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
	return &evLoop{g: g, epfd: epfd, ep: ep, rc: rc, evfd: evfd, conns: map[int32]*evConn{}, pools: map[*backend][]*evConn{}, lower: map[string]string{},
		buf: make([]byte, loopReadSize), events: make([]unix.EpollEvent, 256)}, nil
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
	sent      uint64    // bytes its socket took (loop_stall_linux.go)
	sentMark  uint64    // sent at the last sweep that saw it move
	stuckAt   time.Time // that sweep
	partial   bool      // a head has begun
	closeOut  bool      // close once out is written
	handOver  bool      // hand to Front's goroutines once out is written
	owed      bool      // its next request waits for out to drain
	tls       *loopTLS  // an HTTPS connection's (loop_tls_linux.go); out holds records up to tls.sealed, then plain bytes
	h2        *h2Conn   // an HTTP/2 connection's (loop_h2_linux.go)

	// An instance's, or a socket pair's to Front's goroutines.
	stream    *h2Stream // the HTTP/2 stream whose request it carries
	be        *backend
	reused    bool
	got       bool // the answer has begun
	paused    bool // not read while its client catches up
	idleSince time.Time
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
		l.h2Recycle()
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
	case !c.up && (len(c.in) == cap(c.in) && c.h2 == nil || c.handOver || len(c.out) > loopHighWater):
		// (An HTTP/2 connection's buffer is taken back while it is empty,
		// and a full one is all frames, waiting for the client to read.)
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
		switch cap(c.in) {
		case frontBufSize:
			//lint:ignore SA6002 a slice header per closed connection, not per request
			clientBufs.Put(c.in[:0:cap(c.in)])
		case h2InBuf:
			//lint:ignore SA6002 a slice header per closed connection, not per request
			h2Bufs.Put(c.in[:0])
		}
		c.in = nil
	}
	if c.release != nil {
		c.release()
	}
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
	if c.tls != nil && c.tls.seal(c) != nil {
		l.gone(c)
		return false
	}
	rest, err := writeSome(c.fd, c.out)
	c.sent += uint64(len(c.out) - len(rest))
	if err != nil && c.stream != nil {
		// A stream's request body no one reads any more: its answer may
		// still be there to read (loop_h2_stream_linux.go).
		c.stream.upShut = true
		rest = nil
	} else if err != nil {
		l.gone(c)
		return false
	}
	c.out = c.out[:copy(c.out, rest)]
	if c.tls != nil {
		c.tls.sealed = len(c.out)
	}
	if len(c.out) == 0 && cap(c.out) > loopLowWater {
		c.out = nil // a large answer's buffer is not kept for the connection's life
	}
	if c.up {
		if len(c.out) == 0 && c.peer != nil && c.peer.x != nil {
			c.peer.x.reqSent = true
		}
		if s := c.stream; s != nil {
			l.h2UpDrained(s)
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
	if c.h2 != nil && len(c.out) <= loopLowWater {
		l.h2Drained(c)
		return !c.closed
	}
	if c.owed && len(c.out) <= loopLowWater {
		c.owed = false
		l.serveClient(c) // the request that waited for the client to read
		return !c.closed
	}
	return true
}

// send writes b to c, keeping what the socket does not take; false when
// c is gone.
func (l *evLoop) send(c *evConn, b []byte) bool {
	if c.tls != nil {
		c.out = append(c.out, b...)
		return l.flush(c) // sealed there
	}
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
			if c.peer == nil && c.stream == nil && l.now.Sub(c.idleSince) > idleConnTimeout {
				l.close(c)
			}
			continue
		}
		if l.sendStalled(c) {
			l.cutStalled(c)
			continue
		}
		if c.h2 != nil {
			l.h2Sweep(c)
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
