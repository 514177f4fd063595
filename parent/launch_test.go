package parent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/sockopt"
)

// launchFake is a launcher whose workers run child.Serve in the test
// binary, over an in-memory pipe (for synctest bubbles: a goroutine blocked
// on a real socket is not durably blocked, so the fake clock would stall) or
// over a real socketpair. Every worker it started ends when it is killed,
// when its connection ends, or at SIGTERM; the supervisor under test owns
// that, and launchFake.check verifies it at cleanup.
type launchFake struct {
	handler http.Handler
	// socket runs the workers over a real socketpair instead of a pipe.
	socket bool
	// exec makes supStart use the production launcher (real processes)
	// instead of this one.
	exec bool
	// mode says how the n-th launch (0-based, all slots) behaves.
	mode func(n int) launchMode
	// childCfg tunes every worker's child.Serve; nil means defaults with
	// the test's logger.
	childCfg *child.Config
	log      *slog.Logger

	mu       sync.Mutex
	launches int // launch calls, failed ones included
	workers  []*launchWorker
	// started receives every worker launched, if not nil (buffered by the
	// test).
	started chan *launchWorker
}

// launchMode is a way for a fake worker to misbehave.
type launchMode struct {
	// startErr fails the launch itself, as a missing binary would.
	startErr error
	// failHandshake makes the worker exit 1 before the handshake.
	failHandshake bool
	// silentStart makes the worker never answer the handshake, as one
	// stuck loading its data would, until it is killed.
	silentStart bool
	// exitAfterStart makes it exit 1 right after the handshake.
	exitAfterStart bool
	// exitAfter makes it exit 1 (dying abruptly) when its request number
	// exitAfter+1 arrives, with that request started.
	exitAfter int
}

// launchWorker is one fake worker: the handle the supervisor controls. Its
// goroutines (child.Serve's, and for exitAfterStart the one that kills it
// after the handshake) end when it dies: SIGKILL or a crash closes its
// connection and cancels Serve, SIGTERM cancels Serve, and the parent
// closing the connection ends Serve too. done is closed after them.
type launchWorker struct {
	n, id    int
	env      []string
	fakePid  int
	end      *launchEnd // the worker's end of the connection
	cancel   context.CancelFunc
	done     chan struct{} // closed once Serve returned
	requests atomic.Int64
	memory   atomic.Int64 // what rss reports

	mu      sync.Mutex
	status  string
	hung    bool
	signals []syscall.Signal
	sigAt   []time.Time
}

// launchFakePid is far above any pid_max, so that a fake pid that reached
// a real kill by mistake could not hit a process.
const launchFakePid = 1 << 30

func (l *launchFake) launch(id int, env []string) (workerHandle, net.Conn, error) {
	l.mu.Lock()
	n := l.launches
	l.launches++
	var m launchMode
	if l.mode != nil {
		m = l.mode(n)
	}
	if m.startErr != nil {
		l.mu.Unlock()
		return nil, nil, fmt.Errorf("worker %d: starting the fake: %w", id, m.startErr)
	}
	w := &launchWorker{n: n, id: id, env: slices.Clone(env), fakePid: launchFakePid + n, done: make(chan struct{})}
	l.workers = append(l.workers, w)
	l.mu.Unlock()

	var parentEnd, workerEnd net.Conn
	if l.socket {
		local, remote, err := sockopt.Socketpair()
		if err != nil {
			return nil, nil, err
		}
		c, err := net.FileConn(remote)
		remote.Close()
		if err != nil {
			local.Close()
			return nil, nil, err
		}
		parentEnd, workerEnd = local, c
	} else {
		parentEnd, workerEnd = launchPipe()
	}
	w.end = &launchEnd{Conn: workerEnd, closed: make(chan struct{}), frozen: make(chan struct{}), shook: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	cfg := child.Config{Logger: l.log}
	if l.childCfg != nil {
		cfg = *l.childCfg
	}
	if cfg.Logger == nil {
		cfg.Logger = l.log
	}
	h := l.handler
	if m.exitAfter > 0 {
		inner := h
		h = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if w.requests.Add(1) > int64(m.exitAfter) {
				w.die("exit status 1")
				<-r.Context().Done()
				return
			}
			inner.ServeHTTP(rw, r)
		})
	} else {
		inner := h
		h = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w.requests.Add(1)
			inner.ServeHTTP(rw, r)
		})
	}
	go func() {
		// Owned by the worker: Serve returns once its connection ends,
		// which die (kill) forces.
		defer close(w.done)
		defer cancel()
		var err error
		switch {
		case m.failHandshake:
			// The status first: a process that exited is reaped with
			// its own status, whatever is sent to it afterwards.
			w.mu.Lock()
			w.status = "exit status 1"
			w.mu.Unlock()
			w.end.Close()
		case m.silentStart:
			<-ctx.Done() // SIGKILL or the parent closing its end
			w.end.Close()
		default:
			err = child.Serve(ctx, w.end, h, &cfg)
			if m.exitAfterStart && err == nil {
				err = errors.New("exiting right after start")
			}
		}
		w.mu.Lock()
		if w.status == "" {
			w.status = "exit status 0"
			if err != nil {
				w.status = "exit status 1"
			}
		}
		w.mu.Unlock()
	}()
	if m.exitAfterStart {
		// Dies as soon as the handshake is through: the parent's first
		// read after it sees the end.
		go func() {
			// Owned by the worker: ends with it.
			select {
			case <-w.end.handshook():
				w.die("exit status 1")
			case <-w.done:
			}
		}()
	}
	if l.started != nil {
		l.started <- w
	}
	return w, parentEnd, nil
}

// all returns the workers launched so far.
func (l *launchFake) all() []*launchWorker {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.workers)
}

// check fails t if a worker is still running.
func (l *launchFake) check(t *testing.T) {
	t.Helper()
	for _, w := range l.all() {
		select {
		case <-w.done:
		default:
			t.Errorf("fake worker %d (slot %d, pid %d) still runs after the gateway stopped", w.n, w.id, w.fakePid)
		}
	}
}

func (w *launchWorker) pid() int                { return w.fakePid }
func (w *launchWorker) exited() <-chan struct{} { return w.done }
func (w *launchWorker) rss() (int64, error)     { return w.memory.Load(), nil }
func (w *launchWorker) sendBuffer() int         { return 0 }

func (w *launchWorker) exitStatus() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// signal acts as the real worker (child.Run) does: SIGTERM stops it in
// order, unless it hangs, SIGKILL at once.
func (w *launchWorker) signal(sig syscall.Signal) {
	w.mu.Lock()
	w.signals = append(w.signals, sig)
	w.sigAt = append(w.sigAt, time.Now())
	hung := w.hung
	w.mu.Unlock()
	switch {
	case sig == syscall.SIGKILL:
		w.die("killed by signal " + sig.String())
	case sig == syscall.SIGTERM && !hung:
		w.cancel()
	}
}

// die ends the worker at once with status, as a crash or SIGKILL would.
func (w *launchWorker) die(status string) {
	w.mu.Lock()
	if w.status == "" {
		w.status = status
	}
	w.mu.Unlock()
	w.end.Close()
	w.cancel()
}

// hang makes the worker silent, as SIGSTOP does: it stops reading and
// writing and ignores SIGTERM.
func (w *launchWorker) hang() {
	w.mu.Lock()
	w.hung = true
	w.mu.Unlock()
	w.end.freeze()
}

// received returns the signals the worker got and when.
func (w *launchWorker) received() ([]syscall.Signal, []time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.signals), slices.Clone(w.sigAt)
}

// launchEnd is a worker's end of its connection, which the test can freeze
// and which reports the end of the handshake.
type launchEnd struct {
	net.Conn
	closeOnce  sync.Once
	closed     chan struct{}
	freezeOnce sync.Once
	frozen     chan struct{}
	reads      atomic.Int64
	shookOnce  sync.Once
	shook      chan struct{} // closed once the worker read the parent's HELLO
}

func (e *launchEnd) handshook() <-chan struct{} { return e.shook }

func (e *launchEnd) Read(p []byte) (int, error) {
	if err := e.stalled(); err != nil {
		return 0, err
	}
	n, err := e.Conn.Read(p)
	if err := e.stalled(); err != nil {
		// Frozen while waiting: what arrived is never read, as for a
		// stopped process.
		return 0, err
	}
	if n > 0 && e.reads.Add(int64(n)) >= launchHelloBytes {
		e.shookOnce.Do(func() { close(e.shook) })
	}
	return n, err
}

func (e *launchEnd) Write(p []byte) (int, error) {
	if err := e.stalled(); err != nil {
		return 0, err
	}
	return e.Conn.Write(p)
}

// stalled blocks a frozen end until it is closed.
func (e *launchEnd) stalled() error {
	select {
	case <-e.frozen:
		<-e.closed
		return net.ErrClosed
	default:
		return nil
	}
}

func (e *launchEnd) freeze() { e.freezeOnce.Do(func() { close(e.frozen) }) }

func (e *launchEnd) Close() error {
	e.closeOnce.Do(func() { close(e.closed) })
	return e.Conn.Close()
}

// launchHelloBytes is the size of a HELLO frame (header and payload): once the
// worker has read that much, the handshake is through on its side.
const launchHelloBytes = 12 + 24

// launchPipe returns the two ends of an in-memory, buffered, full-duplex
// connection. net.Pipe is not enough: ipc's handshake has both ends write
// their HELLO before either reads, which an unbuffered pipe deadlocks. It
// blocks on channels only, so that synctest sees a goroutine waiting on it
// as durably blocked.
func launchPipe() (net.Conn, net.Conn) {
	ab, ba := newLaunchBuf(), newLaunchBuf()
	a := &launchPipeEnd{r: ba, w: ab, closed: make(chan struct{}), rd: newLaunchDeadline(), wd: newLaunchDeadline()}
	b := &launchPipeEnd{r: ab, w: ba, closed: make(chan struct{}), rd: newLaunchDeadline(), wd: newLaunchDeadline()}
	return a, b
}

// launchBufLimit is how much one direction holds before a writer waits, as
// a socket's buffers would.
const launchBufLimit = 4 << 20

// launchBuf is one direction of a launchPipe.
type launchBuf struct {
	mu    sync.Mutex
	data  []byte
	eof   bool          // the writing end closed
	gone  bool          // the reading end closed
	ready chan struct{} // signalled when data or eof arrives
	space chan struct{} // signalled when data was read or the reader left
}

func newLaunchBuf() *launchBuf {
	return &launchBuf{ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func launchSignal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

type launchPipeEnd struct {
	r, w      *launchBuf
	closeOnce sync.Once
	closed    chan struct{}
	rd, wd    *launchDeadline
}

func (e *launchPipeEnd) Read(p []byte) (int, error) {
	for {
		select {
		case <-e.closed:
			return 0, net.ErrClosed
		default:
		}
		b := e.r
		b.mu.Lock()
		if len(b.data) > 0 {
			n := copy(p, b.data)
			b.data = b.data[n:]
			if len(b.data) == 0 {
				b.data = nil
			}
			b.mu.Unlock()
			launchSignal(b.space)
			return n, nil
		}
		eof := b.eof
		b.mu.Unlock()
		if eof {
			return 0, io.EOF
		}
		select {
		case <-b.ready:
		case <-e.closed:
			return 0, net.ErrClosed
		case <-e.rd.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (e *launchPipeEnd) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		select {
		case <-e.closed:
			return written, net.ErrClosed
		default:
		}
		b := e.w
		b.mu.Lock()
		if b.gone {
			b.mu.Unlock()
			return written, syscall.EPIPE
		}
		if room := launchBufLimit - len(b.data); room > 0 {
			n := min(room, len(p))
			b.data = append(b.data, p[:n]...)
			b.mu.Unlock()
			launchSignal(b.ready)
			p, written = p[n:], written+n
			continue
		}
		b.mu.Unlock()
		select {
		case <-b.space:
		case <-e.closed:
			return written, net.ErrClosed
		case <-e.wd.wait():
			return written, os.ErrDeadlineExceeded
		}
	}
	return written, nil
}

func (e *launchPipeEnd) Close() error {
	e.closeOnce.Do(func() {
		close(e.closed)
		e.w.mu.Lock()
		e.w.eof = true
		e.w.mu.Unlock()
		launchSignal(e.w.ready)
		e.r.mu.Lock()
		e.r.gone = true
		e.r.data = nil
		e.r.mu.Unlock()
		launchSignal(e.r.space)
	})
	return nil
}

func (e *launchPipeEnd) LocalAddr() net.Addr  { return launchAddr{} }
func (e *launchPipeEnd) RemoteAddr() net.Addr { return launchAddr{} }
func (e *launchPipeEnd) SetDeadline(t time.Time) error {
	e.rd.set(t)
	e.wd.set(t)
	return nil
}
func (e *launchPipeEnd) SetReadDeadline(t time.Time) error  { e.rd.set(t); return nil }
func (e *launchPipeEnd) SetWriteDeadline(t time.Time) error { e.wd.set(t); return nil }

type launchAddr struct{}

func (launchAddr) Network() string { return "pipe" }
func (launchAddr) String() string  { return "pipe" }

// launchDeadline is net.Pipe's deadline: a channel closed when the deadline
// passes, replaced when it is moved.
type launchDeadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func newLaunchDeadline() *launchDeadline { return &launchDeadline{cancel: make(chan struct{})} }

func (d *launchDeadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := false
	select {
	case <-d.cancel:
		closed = true
	default:
	}
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *launchDeadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// supLog records every log record, of the parent and of the fake workers,
// with its (possibly fake) time.
type supLog struct {
	mu      sync.Mutex
	recs    []supRecord
	changed chan struct{} // closed and replaced at every record
}

// changes returns a channel closed at the next record.
func (l *supLog) changes() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

type supRecord struct {
	at    time.Time
	msg   string
	attrs map[string]string
}

func (r supRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", r.at.Format("15:04:05.000"), r.msg)
	keys := make([]string, 0, len(r.attrs))
	for k := range r.attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, r.attrs[k])
	}
	return b.String()
}

func (l *supLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *supLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *supLog) WithGroup(string) slog.Handler            { return l }
func (l *supLog) Handle(_ context.Context, r slog.Record) error {
	rec := supRecord{at: r.Time, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// records returns the records whose message starts with prefix.
func (l *supLog) records(prefix string) []supRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []supRecord
	for _, r := range l.recs {
		if strings.HasPrefix(r.msg, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func (l *supLog) count(prefix string) int { return len(l.records(prefix)) }

func (l *supLog) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, r := range l.recs {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}
