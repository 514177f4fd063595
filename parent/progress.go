package parent

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicegw/sluice/ipc"
)

// A worker is judged by the progress of its streams, not only by its
// frames: one that stops reading its socket may still send valid LOAD
// frames and answer nothing. Two timeouts toward workers, as nginx's
// proxy_read_timeout and Envoy's response-headers timeout, bound how long
// a stream may go without progress:
//
//   - the header timeout (Config.WorkerHeaderTimeout), from the request's
//     head sent to the worker until its response head, starting over at
//     each piece of a request body the worker takes;
//   - the idle timeout (Config.WorkerIdleTimeout), while the copy of a
//     response has written everything that came and waits for more: the
//     client is ready, the worker sends nothing.
//
// Time spent waiting on the client (reading its body, writing to it) never
// counts: the body and send timeouts bound that. When either runs out, the
// stream is reset (the handler's context ends), the client gets 504 before
// the head or a cut after it, and the worker is taken out of routing and
// replaced (pool.stall, the slot's eventStalled).

// Kinds of worker timeout (progressWatch.fired, the metric's label).
const (
	stallNone = iota
	stallHead
	stallIdle
)

// stallKinds label sluice_worker_timeouts_total, by kind.
var stallKinds = [...]string{stallHead: "header", stallIdle: "idle"}

// errWorkerTimeout is an attempt whose worker made no progress for a
// worker timeout before its response head.
var errWorkerTimeout = errors.New("the worker sent no response head within the worker header timeout")

// progressWatch resets one attempt's stream once its worker made no
// progress for a timeout. It lives in the request's exchange; its timer,
// made at the attempt's first arm, is the only goroutine it starts, and
// stop, deferred by serveOn, disarms it: a late expiry finds no stream.
//
// Before the response head the header timeout runs from the stream's
// opening and starts over at each sign of progress (a piece of body taken,
// credit granted); after it, the idle timeout runs while the stream waits
// on the worker's data (its read wait hook). Neither runs while the body
// sender waits on the client; and after the head the body sender's waits
// for the worker's credit do not count: a worker blocked writing a
// response that a slow client reads (a full-duplex echo) takes no body
// meanwhile, and is not stalled.
type progressWatch struct {
	head, idle time.Duration

	mu    sync.Mutex
	st    *ipc.Stream // nil once stopped
	timer *time.Timer
	// gotHead is set once the response head arrived.
	gotHead bool
	// reading is set while the body sender waits on the client's body.
	reading bool
	// waits counts the stream's waits on the worker under way (its wait
	// hook: a response copy waiting for data, a body write waiting for
	// credit); both directions may wait at once. readWaits counts those
	// of the response copy alone.
	waits, readWaits int
	// deadline is when the armed timeout runs out, of kind armed
	// (stallNone: disarmed).
	deadline time.Time
	armed    int
	// fired is the kind of timeout that reset the stream, if one did.
	fired int
	// hook and fire are waiting and expire as func values, and body the
	// body's reader, made once per exchange rather than per attempt.
	hook, readHook func(on bool)
	fire           func()
	body           watchedBody
}

// start watches st with the gateway's worker timeouts, which start with
// the header timeout; without any it costs nothing.
func (w *progressWatch) start(st *ipc.Stream, head, idle time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Each attempt makes its own timer: an exchange outlives its request
	// in a pool, and a timer belongs to the goroutine group (a synctest
	// bubble) that made it.
	w.head, w.idle, w.st, w.timer = head, idle, nil, nil
	w.gotHead, w.reading, w.waits, w.readWaits, w.armed, w.fired = false, false, 0, 0, stallNone, stallNone
	if head <= 0 && idle <= 0 {
		return
	}
	w.st = st
	if w.hook == nil {
		w.hook, w.readHook, w.fire = w.waiting, w.readWaiting, w.expire
	}
	st.SetWaitHook(w.hook)
	st.SetReadWaitHook(w.readHook)
	w.updateLocked(true)
}

// stop disarms the watch at the attempt's end.
func (w *progressWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st = nil
	w.body.r = nil // the body sender has returned: keep no request alive
	w.disarmLocked()
}

// headArrived ends the header timeout; the idle timeout applies from now
// on, while the stream waits on the worker.
func (w *progressWatch) headArrived() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gotHead = true
	w.updateLocked(true)
}

// waiting is the stream's wait hook. A wait that begins, or one that ends
// (progress came), starts the phase's timeout over; a second wait beside
// one under way leaves it running.
func (w *progressWatch) waiting(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if on {
		w.waits++
	} else {
		w.waits = max(0, w.waits-1)
	}
	w.updateLocked(!on || w.waits == 1)
}

// readWaiting is the stream's read wait hook: the response copy waiting
// for the worker's data. It counts as a wait, and is the only kind the
// idle timeout runs for.
func (w *progressWatch) readWaiting(on bool) {
	w.mu.Lock()
	if on {
		w.readWaits++
	} else {
		w.readWaits = max(0, w.readWaits-1)
	}
	w.mu.Unlock()
	w.waiting(on)
}

// readingBody tells the watch that the body sender waits on the client
// (on), or got a piece of body from it: the worker took the last one.
func (w *progressWatch) readingBody(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reading = on
	w.updateLocked(true)
}

// updateLocked arms the timeout the state calls for (restarting its clock
// if restart, or if another kind was armed) or disarms it.
func (w *progressWatch) updateLocked(restart bool) {
	if w.st == nil {
		return
	}
	want, d := stallNone, time.Duration(0)
	switch {
	case w.reading:
	case !w.gotHead:
		want, d = stallHead, w.head
	case w.readWaits > 0:
		want, d = stallIdle, w.idle
	}
	if want == stallNone || d <= 0 {
		w.disarmLocked()
		return
	}
	if restart || want != w.armed {
		w.armLocked(want, d)
	}
}

// watchedBody is a request body that tells its watch when the body sender
// waits on the client.
type watchedBody struct {
	w *progressWatch
	r io.Reader
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.w.readingBody(true)
	n, err := b.r.Read(p)
	b.w.readingBody(false)
	return n, err
}

// bodyReader is r, watched; r itself without worker timeouts.
func (w *progressWatch) bodyReader(r io.Reader) io.Reader {
	if w.head <= 0 && w.idle <= 0 {
		return r
	}
	w.body = watchedBody{w: w, r: r}
	return &w.body
}

// armLocked makes the timeout of kind run out after d from now.
func (w *progressWatch) armLocked(kind int, d time.Duration) {
	w.armed, w.deadline = kind, time.Now().Add(d)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
		return
	}
	w.timer.Reset(d)
}

func (w *progressWatch) disarmLocked() {
	w.armed = stallNone
	if w.timer != nil {
		w.timer.Stop()
	}
}

// expire is the timer's: it resets the stream if the armed timeout really
// ran out (a timer stopped or moved as it fired finds it disarmed or not
// due).
func (w *progressWatch) expire() {
	w.mu.Lock()
	st := w.st
	if st == nil || w.armed == stallNone {
		w.mu.Unlock()
		return
	}
	if d := time.Until(w.deadline); d > 0 {
		w.timer.Reset(d)
		w.mu.Unlock()
		return
	}
	w.fired, w.armed = w.armed, stallNone
	w.mu.Unlock()
	st.Reset(ipc.CodeCancel)
}

// expired is the kind of worker timeout that reset the stream, or
// stallNone.
func (w *progressWatch) expired() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// workerStalled counts a worker timeout of kind on b, takes b out of
// routing so that its slot replaces it, and logs it at a bounded rate.
func (g *Gateway) workerStalled(r *http.Request, b *backend, x *exchange, kind int) {
	g.metrics.workerTimeouts[kind].Inc()
	x.rec.end = endWorkerStall
	timeout := g.cfg.WorkerHeaderTimeout
	if kind == stallIdle {
		timeout = g.cfg.WorkerIdleTimeout
	}
	if kind == stallHead && queuedAtGate(b) {
		// Its gate holds streams back (the CPUs or its memory budget are
		// taken): the worker is alive and busy, not stalled; the request
		// still gets its 504.
		g.slowClients.warn("worker_timeout", "worker header timeout on a stream of a worker whose gate holds streams back; not replaced",
			"worker", b.id, "pid", b.pid, "after", timeout, "request_id", x.rec.reqID)
		return
	}
	if g.pool.stall(b) {
		g.log.Warn("worker made no progress on a stream; it gets no more requests and is replaced",
			"worker", b.id, "pid", b.pid, "timeout", stallKinds[kind], "after", timeout, "method", r.Method, "path", r.URL.Path, "request_id", x.rec.reqID)
		return
	}
	g.slowClients.warn("worker_timeout", "worker timeout on a stream of a worker already being replaced",
		"worker", b.id, "pid", b.pid, "timeout", stallKinds[kind], "after", timeout, "request_id", x.rec.reqID)
}

// queuedAtGate reports whether b's worker said in its last load report that
// streams wait at its admission gate: a head that does not come is then
// the queue's doing, not a worker that stopped.
func queuedAtGate(b *backend) bool {
	l, _ := b.conn.PeerLoad()
	return l.Waiting > 0
}

// answerWorkerTimeout answers 504 to a request whose worker sent no head
// within the header timeout.
func (g *Gateway) answerWorkerTimeout(w http.ResponseWriter, r *http.Request, x *exchange) {
	x.fw.keepSendDeadline()
	g.answer(w, r, x, http.StatusGatewayTimeout, endWorkerStall,
		"sluice: the worker sent no response within the worker header timeout ("+g.cfg.WorkerHeaderTimeout.String()+")")
}

// newWorkerTimeouts registers sluice_worker_timeouts_total and returns
// its counters, by kind.
func newWorkerTimeouts(reg *prometheus.Registry) [len(stallKinds)]prometheus.Counter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_worker_timeouts_total",
		Help: `Streams reset because their worker made no progress, by timeout: header (no response head within --worker-header-timeout: a 504) or idle (no data for --worker-idle-timeout while the client could take it: a cut; each also counts in sluice_http_aborted_total{cause="worker"}). The worker is replaced.`,
	}, []string{"timeout"})
	reg.MustRegister(vec)
	var out [len(stallKinds)]prometheus.Counter
	for k := stallHead; k < len(stallKinds); k++ {
		out[k] = vec.WithLabelValues(stallKinds[k])
	}
	return out
}
