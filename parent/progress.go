package parent

import (
	"errors"
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
//   - the header timeout (Config.WorkerHeaderTimeout), from the request
//     sent whole to the worker until its response head, and while the
//     worker takes none of a request body it was offered;
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
type progressWatch struct {
	head, idle time.Duration

	mu    sync.Mutex
	st    *ipc.Stream // nil once stopped
	timer *time.Timer
	// gotHead is set once the response head arrived; sent once the
	// request went out whole (its head, and its body if any).
	gotHead, sent bool
	// waits counts the stream's waits on the worker under way (its wait
	// hook: a response copy waiting for data, a body write waiting for
	// credit); both directions may wait at once.
	waits int
	// deadline is when the armed timeout runs out, of kind armed
	// (stallNone: disarmed).
	deadline time.Time
	armed    int
	// fired is the kind of timeout that reset the stream, if one did.
	fired int
	// hook is waiting as a func value, made once per exchange rather
	// than per attempt.
	hook func(on bool)
}

// start watches st with the gateway's worker timeouts; without any it
// costs nothing. sent says the request is already all with the worker
// (it has no body), which starts the header timeout.
func (w *progressWatch) start(st *ipc.Stream, head, idle time.Duration, sent bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Each attempt makes its own timer: an exchange outlives its request
	// in a pool, and a timer belongs to the goroutine group (a synctest
	// bubble) that made it.
	w.head, w.idle, w.st, w.timer = head, idle, nil, nil
	w.gotHead, w.sent, w.waits, w.armed, w.fired = false, false, 0, stallNone, stallNone
	if head <= 0 && idle <= 0 {
		return
	}
	w.st = st
	if w.hook == nil {
		w.hook = w.waiting
	}
	st.SetWaitHook(w.hook)
	if sent {
		w.sent = true
		w.armLocked(stallHead, w.head)
	}
}

// stop disarms the watch at the attempt's end.
func (w *progressWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st = nil
	w.disarmLocked()
}

// requestSent starts the header timeout: the request is all with the
// worker (a body's last byte queued), and only its answer is awaited.
func (w *progressWatch) requestSent() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = true
	if w.st != nil && !w.gotHead {
		w.armLocked(stallHead, w.head)
	}
}

// headArrived ends the header timeout; the idle timeout applies from now
// on, while the copy waits for data.
func (w *progressWatch) headArrived() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gotHead = true
	w.disarmLocked()
	if w.st != nil && w.waits > 0 {
		w.armLocked(stallIdle, w.idle)
	}
}

// waiting is the stream's wait hook: a wait on the worker arms the timeout
// of the phase, the end of the last one disarms it (progress came), unless
// the header timeout runs since the request was sent.
func (w *progressWatch) waiting(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st == nil {
		return
	}
	if !on {
		w.waits = max(0, w.waits-1)
		if w.waits == 0 && (w.gotHead || !w.sent) {
			w.disarmLocked()
		}
		return
	}
	w.waits++
	switch {
	case w.waits > 1:
	case w.gotHead:
		w.armLocked(stallIdle, w.idle)
	case !w.sent:
		w.armLocked(stallHead, w.head)
	}
}

// armLocked makes the timeout of kind run out after d from now (d ≤ 0:
// none).
func (w *progressWatch) armLocked(kind int, d time.Duration) {
	if d <= 0 {
		return
	}
	w.armed, w.deadline = kind, time.Now().Add(d)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.expire)
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
	if g.pool.stall(b) {
		g.log.Warn("worker made no progress on a stream; it gets no more requests and is replaced",
			"worker", b.id, "pid", b.pid, "timeout", stallKinds[kind], "after", timeout, "method", r.Method, "path", r.URL.Path, "request_id", x.rec.reqID)
		return
	}
	g.slowClients.warn("worker_timeout", "worker timeout on a stream of a worker already being replaced",
		"worker", b.id, "pid", b.pid, "timeout", stallKinds[kind], "after", timeout, "request_id", x.rec.reqID)
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
