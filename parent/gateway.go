package parent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// Gateway is an http.Handler that streams each request through a worker.
// Create it with New, Start its workers, serve it, and Shutdown to drain;
// Restart replaces the workers one at a time. It owns its supervisor, so an
// embedder never deals with worker processes directly.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	pool      *pool
	costs     *costTable // nil: the light lane is off (cost.go)
	sup       *supervisor
	startOnce sync.Once // Start's; Shutdown uses it up, so no Start follows
	metrics   *metrics
	refusals  *rateLog
	// slowClients logs responses cut by the send timeout.
	slowClients *rateLog
	// queueWait is the live queue timeout in nanoseconds (tunable).
	queueWait atomic.Int64
	// unready is set by BeginDrain (drain.go).
	unready atomic.Bool
	// accessLog writes a line per request; nil without one.
	accessLog *accessLog
	// drainStarted is set once the server began shutting down
	// (ShutdownStarted, Shutdown): responses cut from then on were cut by the drain.
	drainStarted atomic.Bool
}

// New returns a Gateway whose workers are not started yet: call Start
// before serving it and Shutdown to drain.
func New(cfg Config) (*Gateway, error) {
	if err := VerifyConfig(&cfg); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg: cfg,
		log: cfg.Logger,
		pool: &pool{limit: cfg.MaxInFlight, maxQueue: cfg.MaxQueue, retryLo: cfg.RetryAfter, retryHi: cfg.MaxRetryAfter,
			control: queueControl{target: max(0, cfg.QueueTarget), interval: cfg.QueueInterval}},
	}
	g.costs = newCostTable(cfg.LightCPU)
	g.pool.capped.Store(cfg.MaxInFlight > 0)
	g.queueWait.Store(int64(cfg.QueueTimeout))
	g.accessLog = newAccessLog(cfg.AccessLog, cfg.AccessLogFormat)
	g.refusals = newRateLog(cfg.Logger, time.Second)
	g.slowClients = newRateLog(cfg.Logger, time.Second)
	g.sup = newSupervisor(cfg, g.pool)
	g.metrics = newMetrics(g)
	g.pool.onWait = func(o waitOutcome, d time.Duration) { g.metrics.waitObservers[o].Observe(d.Seconds()) }
	g.sup.onRTT = func(worker int, rtt time.Duration) {
		g.metrics.rtt.WithLabelValues(itoa(worker)).Observe(rtt.Seconds())
	}
	return g, nil
}

// Start launches the workers and returns at once; each is kept running
// (restarted with backoff when it dies) until Shutdown. Requests that arrive
// before the first worker is up wait for it up to the queue timeout. Calls
// after the first do nothing.
func (g *Gateway) Start() {
	g.startOnce.Do(g.sup.Start)
}

// Restart replaces the workers one at a time, each new one up before its
// predecessor drains, so that no request fails; new workers run the worker
// command as it is on disk now (sluice serve does this on SIGHUP). A second
// Restart while one runs waits for it. It returns once every worker was
// replaced, or the error that stopped it (the remaining old workers stay),
// or ctx's error.
func (g *Gateway) Restart(ctx context.Context) error {
	return g.sup.Restart(ctx)
}

// ServeHTTP routes r to a worker, or refuses it with 503 and Retry-After.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	x := exchanges.Get().(*exchange)
	defer x.release()
	// Deferred after release, so that it runs before it, on every path
	// (the panic that aborts a response too).
	defer g.finish(r, x, arrived)
	x.rec.reqID = requestID(r)
	w.Header().Set(headerRequestID, x.rec.reqID)
	if !g.checkHeadLimits(w, r, x) {
		return
	}
	checkFraming(w, r)
	// ctx ends with the client or at the request timeout.
	ctx, cancel := g.requestContext(r)
	defer cancel()
	x.fw = flushWriter{w: w, rc: *http.NewResponseController(w), send: newWaitBudget(g.cfg.SendTimeout, g.cfg.SendMinRate)}
	x.fw.armSendDeadline(arrived)
	x.head = addProxyHeaders(appendRequestHead(x.head[:0], r), r, x.rec.reqID)
	body := hasBody(r)
	x.expect = body && expectsContinue(r)
	defer g.finishContinue(w, r, x)
	if body && !g.limitBody(w, r, x) {
		return
	}
	if body {
		g.withBodyTimeout(ctx, r, x)
	}
	// A small body is read first, so that the request can be retried on
	// another worker like a bodyless one; a large one streams through and
	// cannot be, as it is gone once sent.
	var held []byte
	if body && !x.expect && r.ContentLength >= 0 && r.ContentLength <= maxRetryBody {
		var err error
		if held, err = io.ReadAll(io.LimitReader(r.Body, r.ContentLength+1)); err != nil || int64(len(held)) != r.ContentLength {
			// First: a read that timed out fails the connection, which
			// cancels the request's context too.
			if errors.Is(err, errBodyTimeout) {
				g.answerBodyTimeout(w, r, x)
				return
			}
			if errors.Is(err, errRequestTimeout) {
				closeAfter(w, r) // the rest of the body may follow
				g.answerTimeout(w, r, x)
				return
			}
			if r.Context().Err() != nil {
				g.gone(x)
			}
			x.fw.keepSendDeadline()
			g.answer(w, r, x, http.StatusBadRequest, endBadBody, fmt.Sprintf("sluice: reading the request body: got %d of its %d bytes: %v", len(held), r.ContentLength, err))
			return
		}
	}
	retryable := !body || held != nil
	var exclude *backend
	if !g.pool.capped.Load() {
		x.cost = g.costs.classify(r)
	}
	headLen := len(x.head)
	// A request the worker never started (refused at its gate, or a
	// stream that never opened) is retried elsewhere, up to
	// maxNeverStarted attempts in all: when workers are replaced together
	// (recycling, a rolling restart) the next one may be going away too.
	// One whose worker went away before answering may have run, so an
	// idempotent one gets one more attempt, and only as the first retry.
	for attempt := 0; ; attempt++ {
		b, light := g.acquireLight(x.cost, exclude)
		var err error
		var grantedAt time.Time
		if b == nil {
			asked := time.Now()
			b, grantedAt, err = g.pool.acquireAt(ctx, g.queueTimeout(), exclude)
			if err == nil {
				x.rec.queued += grantedAt.Sub(asked)
			}
		}
		if err != nil {
			if timedOut(ctx) {
				g.answerTimeout(w, r, x)
				return
			}
			x.fw.keepSendDeadline() // it may have waited long
			g.refuse(w, r, x, err, body && held == nil)
			return
		}
		x.rec.worker, x.rec.pid = b.id, b.pid
		x.head = appendContinue(appendHints(x.head[:headLen], x.cost, light), x, b)
		x.costAsked = x.costAsked || x.cost.measure
		// Released on every path, including the panic that aborts a
		// response: a slot that leaked would shrink the worker for good.
		// serveOn gives it back earlier, once the stream has ended (slot.go).
		x.slot.hold(g.pool, b, grantedAt, light)
		retry, err := func() (retry bool, err error) {
			defer func() { x.releaseSlots(err == nil) }()
			return g.serveOn(ctx, w, r, b, x, body, held, arrived)
		}()
		switch {
		case err == nil:
			if badBody(x.bodyErr) {
				// Answered before the bad bytes came: what follows
				// them is no request either.
				closeConnAfter(w)
			}
			return
		case timedOut(ctx):
			g.answerTimeout(w, r, x)
			return
		case errors.Is(err, errWorkerTimeout):
			g.workerStalled(r, b, x, stallHead)
			g.answerWorkerTimeout(w, r, x)
			return
		case bodyTooLarge(x.bodyErr):
			g.answerTooLarge(w, r, x)
			return
		case errors.Is(x.bodyErr, errBodyTimeout):
			g.answerBodyTimeout(w, r, x)
			return
		case badBody(x.bodyErr):
			g.answerBadBody(w, r, x)
			return
		}
		// A stream that never opened sent nothing, not even a large body.
		var notOpened openError
		neverStarted := errors.As(err, &notOpened) || isRefused(err)
		if retry && (retryable || unreadContinue(x) || errors.As(err, &notOpened)) &&
			(attempt == 0 || neverStarted && attempt+1 < maxNeverStarted) {
			g.metrics.retried.Inc()
			exclude = b
			continue
		}
		// Unless the gateway itself cut the body's read short (which ends
		// the request's context too), a context that ended is the client
		// going away: no answer, no failure to report.
		var cut bodyCut
		if r.Context().Err() != nil && !errors.As(err, &cut) {
			g.gone(x)
		}
		g.log.Warn("request failed before a response", "method", r.Method, "path", r.URL.Path, "worker", b.id, "err", err, "request_id", x.rec.reqID)
		x.fw.keepSendDeadline()
		g.answer(w, r, x, http.StatusBadGateway, g.cutBy(endWorkerLost), "sluice: the worker failed before responding: "+err.Error())
		return
	}
}

// serveOn runs one attempt of r on b. It returns an error only if nothing
// was sent to the client yet, and whether another worker may try.
func (g *Gateway) serveOn(ctx context.Context, w http.ResponseWriter, r *http.Request, b *backend, x *exchange, body bool, held []byte, arrived time.Time) (retry bool, err error) {
	st, err := b.conn.OpenStream(ctx, x.head, !body)
	if err != nil {
		return true, openError{fmt.Errorf("opening a stream on worker %d: %w", b.id, err)}
	}
	defer g.resetAtTimeout(ctx, st)()
	x.watch.start(st, g.cfg.WorkerHeaderTimeout, g.cfg.WorkerIdleTimeout)
	defer x.watch.stop()
	x.bodyErr = nil
	if body {
		// Full duplex: the worker may answer while the body still flows.
		rc := &x.fw.rc
		rc.EnableFullDuplex()
		bodyDone := make(chan struct{})
		go func() {
			defer close(bodyDone)
			sendRequestBody(ctx, st, r, x, held)
		}()
		// Runs after the next one, which leaves the sender done: a
		// response cut because the body passed the limit, stalled or
		// turned malformed (the sender reset the stream) was the body's
		// doing, not the client's going, nor the worker's (which may
		// answer the reset with its own before the copy sees ours).
		defer func() {
			cut := x.rec.end == endClientGone || x.rec.end == endWorkerLost
			if bodyTooLarge(x.bodyErr) && cut {
				x.rec.end = endBodyTooLarge
				stopReading(x)
			}
			if errors.Is(x.bodyErr, errBodyTimeout) && cut {
				x.rec.end = endBodyTimeout
				g.metrics.bodyTimeouts.Inc()
			}
			if badBody(x.bodyErr) && cut {
				x.rec.end = endBadBody
			}
		}()
		defer func() {
			// A worker that answered without reading the whole body (a
			// 413, a 405) must not leave us waiting on a client that
			// keeps uploading: a deadline in the past interrupts the
			// read. The rest of that body is still on the connection,
			// which therefore ends after this response, and the deadline
			// stays so that net/http's own reads after the handler fail
			// at once. Cleared, it let net/http read on into the body's
			// rest as if it were the next request, and (caught by the
			// tests' check of the server's log) recover a panic of two
			// reads at once on the connection. A sender that has not
			// begun never will: the body is left whole, for another
			// worker if it was never asked for (100-continue), since
			// over HTTP/2 an interrupted read closes the body for good.
			senderDone := false
			select {
			case <-bodyDone:
				senderDone = true
			default:
			}
			cut, abandoned := x.bodyLeft(held != nil, senderDone)
			if senderDone && !cut {
				return
			}
			// Before the interruption, which ends the request's context
			// too: one ended already is the client's going (net/http ends
			// it inside the body's read, before that read returns).
			clientGone := r.Context().Err() != nil
			if cut {
				stopReading(x)
			}
			<-bodyDone
			switch {
			case cut:
				// Even if the body's end then came: maybe from net/http's
				// buffer, with the deadline failing the read net/http
				// starts after a body's end, which cancels the
				// connection's context for every later request.
				closeConnAfter(w)
				if err != nil && !clientGone {
					err = bodyCut{err}
				}
			case abandoned:
				x.bodyState.Store(bodyUntouched) // for a next attempt
				if !x.expect {
					closeConnAfter(w) // the client sent it all the same
				}
			}
		}()
	}

	respHead, err := st.ReadHead(ctx)
	if err != nil {
		st.Reset(ipc.CodeCancel)
		if x.watch.expired() != stallNone {
			return false, errWorkerTimeout
		}
		return refusedOrGone(r.Method, err), err
	}
	x.watch.headArrived()
	releaseAtStreamEnd(x, st)
	status, err := relayResponseHead(respHead, w.Header())
	if err != nil {
		st.Reset(ipc.CodeProtocol)
		return false, err
	}
	closeIfUnread(w, r, x)
	w.WriteHeader(status)
	x.rec.status = status
	// A stream whose last frame is already here has its whole body
	// buffered: its head waits for the body, so that both leave in one
	// write (CopyTo flushes once it has written everything). Any other
	// head goes out now, so that time to first byte is not held to the
	// first chunk. A response with trailers also sends its head first, as
	// before: net/http sends trailers only on a chunked response, and picks
	// a Content-Length instead for an empty body whose head was not
	// flushed, dropping trailers it was not told of before the head.
	complete := peerDone(st) && !hasTrailers(st.Trailers())
	// Head and body leave in one write (coalesce.go) when the body's first
	// bytes are already here: nothing waits for them.
	joined := (complete || st.Buffered() > 0) && (!body || held != nil)
	if joined {
		x.fw.holdFront(r)
		defer x.fw.releaseFront()
	}
	if !complete {
		x.fw.flushHead(joined)
	}
	x.rec.ttfb = time.Since(arrived)
	g.metrics.ttfb.Observe(x.rec.ttfb.Seconds())
	g.metrics.requests.inc(r.Method, status)

	if !complete && g.cfg.RequestTimeout <= 0 {
		// A worker that goes silent mid-body gives the copy nothing to
		// write, and a client that left is noticed only at a write: reset
		// the stream when the client goes away, so that its slot is freed
		// and the handler's context ends whatever the worker does. (With a
		// request timeout, resetAtTimeout watches the same context; a
		// response already whole needs no watch.)
		defer context.AfterFunc(ctx, func() { st.Reset(ipc.CodeCancel) })()
	}
	n, err := copyResponse(st, &x.fw, g.cfg.IPC.CurrentWindow())
	x.rec.sent = n
	g.metrics.respBytes.Add(float64(n))
	if err != nil {
		if complete {
			// What arrived still reaches the client before the cut, as it
			// would have with the head sent first (a stream reset before
			// its first byte leaves nothing to flush but the head).
			x.fw.Flush()
		}
		var se *ipc.StreamError
		// net/http refuses bytes past the worker's own Content-Length, or
		// any on a status without a body: the worker's fault, not the client's.
		overrun := errors.Is(err, http.ErrContentLength) || errors.Is(err, http.ErrBodyNotAllowed)
		stalled := x.watch.expired()
		switch {
		case timedOut(ctx):
			// The timeout reset the stream (resetAtTimeout).
			g.metrics.aborted.WithLabelValues(abortTimeout).Inc()
			g.metrics.timeouts[timeoutDuringResponse].Inc()
			x.rec.end = endTimeout
		case stalled != stallNone:
			// A worker timeout reset the stream (progress.go).
			g.metrics.aborted.WithLabelValues(abortWorker).Inc()
			g.workerStalled(r, b, x, stalled)
		case r.Context().Err() != nil || (!overrun && !(errors.As(err, &se) && se.Remote) && b.conn.Err() == nil):
			// The client's write failed: it went away, or took nothing
			// for the send timeout. Tell the worker.
			g.metrics.aborted.WithLabelValues(abortClient).Inc()
			x.rec.end = g.cutBy(endClientGone)
			if isSendTimeout(err) {
				g.countSendTimeout(r, b)
				x.rec.end = endSendTimeout
			}
		default:
			g.metrics.aborted.WithLabelValues(abortWorker).Inc()
			x.rec.end = g.cutBy(endWorkerLost)
			g.log.Warn("response aborted", "method", r.Method, "path", r.URL.Path, "worker", b.id, "err", err, "request_id", x.rec.reqID)
		}
		st.Reset(ipc.CodeCancel)
		// Abort, so the client can never take a truncated body for a whole
		// one: net/http closes the connection without the final chunk. An
		// HTTP/1.0 response (nginx proxies with 1.0 by default) has no
		// chunks, and one without a length ends where the connection
		// closes, so that the close would pass the cut for the end: the
		// connection is reset instead.
		if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
			resetFront(r)
		}
		abort()
	}
	setTrailers(w.Header(), st.Trailers())
	g.noteCost(x, b, st.Trailers())
	if body {
		// The response is complete; a handler that ignored part of a large
		// body leaves our sender blocked on credit. The reset frees it and
		// keeps the response (the worker's END already arrived). Before
		// the wait for the client below, so that neither the stream nor
		// its worker waits with it.
		st.Reset(ipc.CodeCancel)
	}
	switch g.awaitTaken(ctx, r, x) {
	case takenTooSlow:
		// The client took too little of what the kernel holds for it
		// within the send timeout (taken.go): cut as a write would be.
		g.metrics.aborted.WithLabelValues(abortClient).Inc()
		g.countSendTimeout(r, b)
		x.rec.end = endSendTimeout
		abort()
	case takenTimedOut:
		g.metrics.aborted.WithLabelValues(abortTimeout).Inc()
		g.metrics.timeouts[timeoutDuringResponse].Inc()
		x.rec.end = endTimeout
		abort()
	}
	return false, nil
}

// peerDone reports, without blocking, whether the peer's last frame on st
// is here (its END, or a reset, or the connection's end), so that reading
// the rest of the response never waits. The stream's context ends once
// both directions ended, or on any failure.
func peerDone(st *ipc.Stream) bool {
	select {
	case <-st.Context().Done():
		return true
	default:
		return false
	}
}

// bodyCut is an attempt that failed while the client was still sending its
// body, whose read the gateway interrupted: net/http then ends the request's
// context, although the client is still there for an answer.
type bodyCut struct{ error }

func (e bodyCut) Unwrap() error { return e.error }

// openError is an attempt that failed to open its stream: nothing of the
// request reached the worker.
type openError struct{ error }

func (e openError) Unwrap() error { return e.error }

// abort ends a request that has no answer to give (its client went away)
// by dropping the connection. Returning instead would let net/http send an
// empty 200, which a client still listening would take for a complete
// response.
func abort() { panic(http.ErrAbortHandler) }

// maxNeverStarted bounds the attempts of a request that no worker started:
// enough to get past workers that go away together, few enough that a
// gateway whose every worker refuses answers at once.
const maxNeverStarted = 3

// isRefused reports whether err is a worker's refusal of a stream it never
// started (CodeRefused).
func isRefused(err error) bool {
	var se *ipc.StreamError
	return errors.As(err, &se) && se.Code == ipc.CodeRefused
}

// refusedOrGone reports whether a stream that failed before its response
// head may run again on another worker: one the worker refused (never
// started), or, for an idempotent method (RFC 9110 section 9.2.2), one whose
// worker went away before answering.
func refusedOrGone(method string, err error) bool {
	var se *ipc.StreamError
	switch {
	case errors.As(err, &se):
		return se.Code == ipc.CodeRefused
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// sendBody streams the request body to the worker and ends it; a body that
// fails to arrive resets the stream rather than end it short, and its
// read's error is returned. readAll says the body was read to its end;
// atEnd, if not nil, runs as soon as it is, before the body's last bytes
// and the stream's end go out: a worker may answer as soon as it has the
// bytes it wants, and whoever handles that answer must already see the
// body as read (not as still being read, which would cut the connection
// after it).
//
// A read blocks holding its buffer until the client sends, so a body that
// trickles in is read into a small buffer, and only a read that fills it
// moves the next ones up to a large one (and a short read back down):
// hundreds of slow uploads then hold 4 KiB each, not 64.
func sendBody(st *ipc.Stream, body io.Reader, atEnd func()) (readAll bool, err error) {
	pool := bodyReadBuffers
	pb := pool.Get()
	defer func() { pool.Put(pb) }()
	for {
		buf := *pb
		n, err := body.Read(buf)
		if err == io.EOF && atEnd != nil {
			atEnd()
		}
		if n > 0 {
			if _, werr := st.Write(buf[:n]); werr != nil {
				return err == io.EOF, nil
			}
		}
		if err == io.EOF {
			st.CloseWrite()
			return true, nil
		}
		if err != nil {
			st.Reset(ipc.CodeCancel)
			return false, err
		}
		if next := bodyReadPool(n); next != pool {
			pool.Put(pb)
			pool, pb = next, next.Get()
		}
	}
}

// bodyReadPool is the pool of the buffer for sendBody's next read, given
// that the last one returned n bytes: a read that filled a small buffer, or
// as much into a large one, says the body is arriving fast.
func bodyReadPool(n int) *ipc.GatherPool {
	if n >= bodyReadBufferSize {
		return smallCopyBuffers
	}
	return bodyReadBuffers
}

// sendHeld sends a body already in memory and ends it. The stream's queue
// copies from it directly; reading it through sendBody would cost a buffer
// of its own and one more copy per request.
func sendHeld(st *ipc.Stream, held []byte) {
	if _, err := st.Write(held); err != nil {
		return
	}
	st.CloseWrite()
}

// maxRetryBody is the largest request body the gateway holds in memory so
// that the request can be retried on another worker.
const maxRetryBody = 64 << 10

// copyBufferSize is how much of a response the gateway gathers into one
// write to the client when the worker's data arrives in short runs (the
// first MiB of a stream, or a handler that flushes often): large writes
// cost far fewer system calls than 64 KiB ones. Longer runs are written
// straight from the stream's receive buffer (see ipc.Stream.CopyTo).
const copyBufferSize = 256 << 10

// smallCopyBufferSize is the gather buffer of a response while many share
// the buffer budget: a gathered write holds its buffer until the client
// takes it, and for hundreds of slow clients 256 KiB each would cost more
// memory than the budget itself, for writes that a slow client takes in
// small pieces anyway.
const smallCopyBufferSize = 64 << 10

// smallCopyWindow is the per-stream window below which responses gather
// into small buffers: the buffer budget is then shared among many streams.
const smallCopyWindow = 1 << 20

// bodyReadBufferSize is the buffer of a request body's read while the body
// arrives in short runs (see sendBody): the size of net/http's own
// connection buffer, so that a read never returns less for want of room.
const bodyReadBufferSize = 4 << 10

// Gather buffers: a response among many borrows a small one for one write
// at a time (see copyResponse); sendBody reads a request body into a small
// one, or a read buffer while the body trickles in.
var (
	copyBuffers      = ipc.NewGatherPool(copyBufferSize)
	smallCopyBuffers = ipc.NewGatherPool(smallCopyBufferSize)
	bodyReadBuffers  = ipc.NewGatherPool(bodyReadBufferSize)
)

// copyResponse copies a response whose stream window is window to w.
// While many streams share the budget (a small window), each borrows a
// small gather buffer for one write at a time, so that hundreds waiting on
// slow clients hold none; while few do, a response keeps its large buffer
// for the whole copy and pays no pool round trip per write, which a
// collection that empties the pool would turn into a fresh 256 KiB
// allocation.
func copyResponse(st *ipc.Stream, w io.Writer, window int) (int64, error) {
	if window < smallCopyWindow {
		return st.CopyToGathering(w, smallCopyBuffers)
	}
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	return st.CopyTo(w, *buf)
}

// flushWriter lets Stream.WriteTo flush the client's response whenever the
// worker's data has all been written and more is not there yet: bytes never
// wait in a buffer while the stream is idle, and a busy stream pays no flush
// (and no extra system call) per chunk. Every write it makes, either of
// which may block on the client, keeps the send timeout's deadline ahead
// (sendtimeout.go).
type flushWriter struct {
	w  http.ResponseWriter
	rc http.ResponseController
	// send is the send timeout's budget (sendtimeout.go), deadline the
	// write deadline in force.
	send     waitBudget
	deadline time.Time
	// front is the client's connection while it holds the response's
	// writes, to pass them on in one at the flush (coalesce.go).
	front *countedConn
}

func (f *flushWriter) Write(p []byte) (int, error) {
	start := f.keepSendDeadline()
	n, err := f.w.Write(p)
	f.sent(start, n)
	return n, err
}

func (f *flushWriter) Flush() error {
	start := f.keepSendDeadline()
	err := f.rc.Flush()
	f.sent(start, 0)
	if rerr := f.releaseFront(); err == nil {
		err = rerr
	}
	return err
}

// exchange holds what one request needs beyond its handler's stack, reused
// across requests: the request head, and the writer that CopyTo flushes
// through (an interface value, so it would escape).
type exchange struct {
	head ipc.Fields
	fw   flushWriter
	rec  record // what the access log reports
	// bodyErr is why the last attempt's body sender stopped reading the
	// client's body (nil if it read it all, or held it).
	bodyErr error
	// expect says the client waits for 100 Continue before its body, and
	// bodyState how far the body senders got with it (continue.go).
	expect    bool
	bodyState atomic.Int32
	// body gives the request body the body timeout (bodytimeout.go).
	body bodyTimeoutReader
	// cost is what the cost table knows of the request (cost.go);
	// costAsked says a worker was asked to measure it, and cpu is its
	// report, if cpuKnown.
	cost      costClass
	costAsked bool
	cpuKnown  bool
	cpu       time.Duration
	// watch holds the attempt's worker timeouts (progress.go).
	watch progressWatch
	// slot is the attempt's stream in the pool's count, and endSlot the
	// hold the stream's end gives back when the head came before it
	// (slot.go).
	slot    streamSlot
	endSlot *streamSlot
}

var exchanges = sync.Pool{New: func() any { return &exchange{head: make(ipc.Fields, 0, 16)} }}

// release returns x to the pool, keeping no request's strings or writer
// alive. A head that grew far past the common size is dropped rather than
// kept for every later request.
func (x *exchange) release() {
	x.fw = flushWriter{}
	x.rec = record{}
	x.bodyErr = nil
	x.expect = false
	x.bodyState.Store(bodyUntouched)
	x.body = bodyTimeoutReader{}
	x.cost, x.costAsked, x.cpuKnown, x.cpu = costClass{}, false, false, 0
	x.slot.pool, x.slot.b, x.endSlot = nil, nil, nil
	if cap(x.head) > 64 {
		return
	}
	clear(x.head)
	x.head = x.head[:0]
	exchanges.Put(x)
}

// refuse answers 503 with Retry-After and a message that says why;
// unreadBody says the request's body was not read.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, x *exchange, err error, unreadBody bool) {
	if r.Context().Err() != nil {
		g.gone(x)
	}
	var state *refusal
	if !errors.As(err, &state) {
		state = g.pool.refusalState(err)
	}
	open, waiting := state.open, state.waiting
	reason := refusalReason(err)
	g.metrics.refused.WithLabelValues(reason).Inc()
	g.refusals.warn(reason, "request refused with 503", "reason", reason, "err", err, "in_flight", open, "waiting", waiting)
	secs := int(math.Ceil(state.retryAfter.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	// A request whose body was not read (one too large to hold for a
	// retry) closes its connection, so that the body costs nothing. The
	// others keep it: under overload most requests are refused, and a new
	// connection for each would cost the client and the gateway more than
	// the refusal itself.
	if unreadBody {
		closeAfter(w, r)
	}
	msg := fmt.Sprintf("sluice: %v (%d workers, %d requests in flight, %d waiting); retry in %d s\n",
		err, g.sup.running(), open, waiting, secs)
	g.answer(w, r, x, http.StatusServiceUnavailable, endRefused, msg)
}

// refusalReason names a refusal for the metric label.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, errQueueTimeout):
		return "queue_timeout"
	case errors.Is(err, errQueueFull):
		return "queue_full"
	case errors.Is(err, errNoWorkers):
		return "no_worker"
	case errors.Is(err, errDraining):
		return "draining"
	case errors.Is(err, errOverloaded):
		return "overload"
	}
	return "other"
}

// queueTimeout is the queue timeout in force (it can be tuned live).
func (g *Gateway) queueTimeout() time.Duration { return time.Duration(g.queueWait.Load()) }

// maxInFlight is the per-worker limit in force (it can be tuned live).
func (g *Gateway) maxInFlight() int {
	g.pool.mu.Lock()
	defer g.pool.mu.Unlock()
	return g.pool.limit
}

// streamWindow is the credit the parent grants each response stream.
func (g *Gateway) streamWindow() int {
	if g.cfg.IPC != nil && g.cfg.IPC.StreamWindow != 0 {
		return g.cfg.IPC.StreamWindow
	}
	return ipc.DefaultStreamWindow
}

func itoa(n int) string { return strconv.Itoa(n) }

// Shutdown drains: no request is routed any more, and the workers are told
// to finish and stop. In-flight requests are the http.Server's to wait for
// (call http.Server.Shutdown first).
func (g *Gateway) Shutdown(ctx context.Context) error {
	// A Start after Shutdown must not launch workers nobody would stop.
	g.startOnce.Do(func() {})
	g.drainStarted.Store(true)
	g.pool.setDraining()
	return g.sup.Stop(ctx)
}

// closeAfter ends an HTTP/1.x connection after this response. Over
// HTTP/2 it does nothing: Go's server answers Connection: close with a
// GOAWAY, which would end every other stream the connection carries (a
// proxy's many clients) for one request's sake.
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}
