package child

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/stream"
)

// loadInterval is how often a busy worker repeats its load report, so that
// the parent sees queued bytes drain even while no handler starts or ends.
const loadInterval = 100 * time.Millisecond

// flushTimeout bounds the ping that, before Serve closes the connection,
// makes sure the last resets and the load report have left.
const flushTimeout = time.Second

// Serve speaks the sluice protocol as the worker on conn and runs handler
// for every stream the parent opens, until the parent sends go-away or
// closes the connection, or ctx ends. It then stops accepting streams (after
// ctx ends it sends go-away itself), resets the streams still waiting at the
// admission gate with REFUSED so that the parent retries them elsewhere, lets
// running handlers finish, waits for their responses to be sent, closes the
// connection and returns.
//
// It returns nil after an orderly stop (go-away or ctx), and an error if the
// handshake failed or the connection broke. Handler contexts carry the
// values of ctx but not its cancellation: stopping lets them finish. A nil
// handler means http.DefaultServeMux, and a nil cfg the defaults.
func Serve(ctx context.Context, conn net.Conn, handler http.Handler, cfg *Config) error {
	if handler == nil {
		handler = http.DefaultServeMux
	}
	if err := VerifyConfig(cfg); err != nil {
		conn.Close()
		return err
	}
	set := cfg.settings()
	s := &server{
		handler: handler,
		log:     set.log,
		budget:  stream.NewBudget(set.limit, set.high, set.low),
		limit:   uint32(set.maxInFlight),
		base:    ctx,
	}
	gateLimit := set.maxInFlight
	if !set.admission {
		// Nothing holds streams back, so the connection's stream limit
		// is the only bound; the parent routes by it.
		gateLimit, s.limit = 0, uint32(set.maxStreams)
	}
	set.ipc.SendBudget = s.budget
	ic, err := ipc.Server(conn, &set.ipc)
	if err != nil {
		return fmt.Errorf("sluice worker: handshake with the parent: %w", err)
	}
	s.conn = ic
	s.gate = newGate(gateLimit, s.budget, func(inFlight, waiting int) { s.sendLoad(inFlight, waiting, false) })
	s.log.Info("sluice worker: serving",
		"max_inflight", set.maxInFlight, "admission", set.admission,
		"high_watermark", set.high, "low_watermark", set.low, "queue_limit", set.limit)
	return s.serve(ctx)
}

// server is one Serve call.
type server struct {
	handler http.Handler
	log     *slog.Logger
	conn    *ipc.Conn
	budget  *stream.Budget // every stream's queued response bytes
	gate    *gate
	limit   uint32          // the Limit of load reports
	base    context.Context // its values reach every request context

	streams sync.WaitGroup // one per accepted stream
	// lastLoad is the last report sent. Reports are made under the gate's
	// lock, which guards it.
	lastLoad ipc.Load
}

func (s *server) serve(ctx context.Context) error {
	tickDone := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Add(1)
	go func() {
		defer ticker.Done()
		s.tick(tickDone)
	}()
	s.gate.report(func(inFlight, waiting int) { s.sendLoad(inFlight, waiting, false) })

	var err error
	for {
		var st *ipc.Stream
		if st, err = s.conn.AcceptStream(ctx); err != nil {
			break
		}
		t := s.gate.join()
		s.streams.Add(1)
		go s.serveStream(st, t)
	}

	connErr := s.conn.Err()
	orderly := errors.Is(err, ipc.ErrGoAway) || s.conn.GoingAway()
	if ctx.Err() != nil && connErr == nil {
		s.conn.GoAway(ipc.CodeShutdown, "the worker is shutting down")
		s.refuseAccepted()
		orderly = true
	}
	s.log.Info("sluice worker: stopping; running handlers finish, waiting streams are refused", "reason", err)
	s.gate.stop()
	s.streams.Wait()
	close(tickDone)
	ticker.Wait()
	if s.conn.Err() == nil {
		s.gate.report(func(inFlight, waiting int) { s.sendLoad(inFlight, waiting, false) })
		// The ping's reply comes after the peer has read every control
		// frame queued before it: the last resets and the load report.
		pctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		s.conn.Ping(pctx)
		cancel()
	}
	s.conn.Close()
	if orderly {
		return nil
	}
	if connErr != nil {
		err = connErr
	}
	return fmt.Errorf("sluice worker: the connection to the parent ended: %w", err)
}

// refuseAccepted resets the streams that arrived before our go-away and were
// never accepted: nothing will run them, and the parent may retry them.
func (s *server) refuseAccepted() {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		st, err := s.conn.AcceptStream(done)
		if err != nil {
			return
		}
		st.Reset(ipc.CodeRefused)
	}
}

// serveStream takes one stream from the gate to the end of its response.
func (s *server) serveStream(st *ipc.Stream, t *ticket) {
	defer s.streams.Done()
	// Serve waits for every stream to end in both directions, so that no
	// response is cut off when it closes the connection.
	defer func() {
		select {
		case <-st.Context().Done():
		case <-s.conn.Done():
		}
	}()
	// The request context ends when the parent resets the stream (the
	// client went away) or when the handler returns.
	ctx, cancel := context.WithCancel(valuesFrom{st.Context(), s.base})
	defer cancel()
	req, body, err := newRequest(ctx, st)
	if err != nil {
		s.gate.withdraw(t)
		s.log.Warn("sluice worker: answering 400", "stream", st.ID(), "err", err)
		respondError(st, http.StatusBadRequest, "sluice worker: "+err.Error())
		io.CopyN(io.Discard, st, maxDrain)
		return
	}
	if err := s.gate.wait(st.Context(), t); err != nil {
		// Never started: REFUSED tells the parent that it may retry the
		// stream elsewhere. A no-op if the parent reset it.
		st.Reset(ipc.CodeRefused)
		return
	}
	s.handle(st, req)
	cancel()
	s.gate.leave()
	body.drain()
}

// handle runs the handler and ends the response, whatever the handler did.
func (s *server) handle(st *ipc.Stream, req *http.Request) {
	w := newResponse(st, req, s.log)
	defer func() {
		v := recover()
		if v == nil {
			w.finish()
			return
		}
		if v != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.log.Error("sluice worker: handler panicked", "stream", st.ID(),
				"method", req.Method, "path", req.URL.Path, "panic", v, "stack", string(buf))
		}
		w.abort()
	}()
	s.handler.ServeHTTP(w, req)
}

// sendLoad reports the worker's load to the parent, which routes by it.
// Changes are always reported (the ipc layer sends only the newest of
// those not yet written); periodic reports are skipped once the worker is
// idle and the parent knows it.
func (s *server) sendLoad(inFlight, waiting int, periodic bool) {
	l := ipc.Load{
		InFlight:    uint32(inFlight),
		Waiting:     uint32(waiting),
		Limit:       s.limit,
		QueuedBytes: uint64(s.budget.Used()),
	}
	if periodic && l == s.lastLoad && inFlight == 0 && waiting == 0 && l.QueuedBytes == 0 {
		return
	}
	s.lastLoad = l
	s.conn.SendLoad(l)
}

// tick repeats the load report every loadInterval until done is closed.
func (s *server) tick(done <-chan struct{}) {
	t := time.NewTicker(loadInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.gate.report(func(inFlight, waiting int) { s.sendLoad(inFlight, waiting, true) })
		case <-done:
			return
		}
	}
}

// valuesFrom is a stream's context that also carries the values of Serve's
// context, so that what the caller put there (a logger, a tracer) reaches
// every handler, while cancellation stays the stream's alone: stopping Serve
// lets running handlers finish.
type valuesFrom struct {
	context.Context                 // the stream's
	values          context.Context // Serve's
}

// Value looks in the stream's context first, then in Serve's.
func (c valuesFrom) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.values.Value(key)
}
