package parent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sluicegw/sluice/ipc"
)

// supHandler is the fake workers' application:
//
//	/bytes?n=N             N bytes at once
//	/sleep?d=D&n=N         N bytes after D (the request context ends it early)
//	/slow?d=D              its head at once, then nothing for D, then 1 byte
//	/stream                16 KiB every 10 ms until the request ends
func supHandler() http.Handler {
	mux := http.NewServeMux()
	wait := func(r *http.Request, d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	n := func(r *http.Request) int { v, _ := strconv.Atoi(r.URL.Query().Get("n")); return v }
	d := func(r *http.Request) time.Duration { v, _ := time.ParseDuration(r.URL.Query().Get("d")); return v }
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), n(r)))
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		if wait(r, d(r)) {
			w.Write(bytes.Repeat([]byte("x"), n(r)))
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		if wait(r, d(r)) {
			w.Write([]byte("x"))
		}
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("s"), 16<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if !wait(r, 10*time.Millisecond) {
				return
			}
		}
	})
	return mux
}

// supEnv is a started Gateway with fake workers.
type supEnv struct {
	t        *testing.T
	g        *Gateway
	l        *launchFake
	log      *supLog
	stopOnce sync.Once
	stopErr  error
}

// supStart starts a Gateway on l's workers; cleanup shuts it down and checks
// that no worker is left.
func supStart(t *testing.T, cfg Config, l *launchFake) *supEnv {
	t.Helper()
	log := &supLog{changed: make(chan struct{})}
	cfg.Logger = slog.New(log)
	if cfg.IPC == nil {
		cfg.IPC = &ipc.Config{Logger: cfg.Logger}
	}
	if cfg.WorkerMemoryLimit == 0 {
		cfg.WorkerMemoryLimit = -1 // no cgroup lookup
	}
	if l.handler == nil {
		l.handler = supHandler()
	}
	l.log = cfg.Logger
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.sup.launcher = l
	if l.exec {
		g.sup.launcher = execLauncher{g.cfg}
	}
	e := &supEnv{t: t, g: g, l: l, log: log}
	t.Cleanup(func() {
		e.shutdown(10 * time.Second)
		l.check(t)
		if t.Failed() {
			t.Logf("log:\n%s", log.dump())
		}
	})
	g.Start()
	return e
}

// shutdown drains the gateway once, within timeout.
func (e *supEnv) shutdown(timeout time.Duration) error {
	e.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		e.stopErr = e.g.Shutdown(ctx)
	})
	return e.stopErr
}

// waitLog waits until n records start with prefix and returns them.
func (e *supEnv) waitLog(prefix string, n int) []supRecord {
	e.t.Helper()
	timeout := time.NewTimer(5 * time.Minute) // fake time in bubbles
	defer timeout.Stop()
	for {
		ch := e.log.changes()
		if recs := e.log.records(prefix); len(recs) >= n {
			return recs
		}
		select {
		case <-ch:
		case <-timeout.C:
			e.t.Fatalf("waited for %d %q records; have %d", n, prefix, e.log.count(prefix))
		}
	}
}

// waitUp waits until n workers are up and routed to.
func (e *supEnv) waitUp(n int) {
	e.t.Helper()
	timeout := time.NewTimer(5 * time.Minute)
	defer timeout.Stop()
	for {
		ch := e.log.changes()
		if e.g.Ready() && e.upCount() >= n {
			return
		}
		// A worker is logged up just before it joins the pool, so a
		// record may come before the change it announces: look again
		// soon even without one.
		select {
		case <-ch:
		case <-time.After(time.Millisecond):
		case <-timeout.C:
			e.t.Fatalf("%d of %d workers up: %+v", e.upCount(), n, e.g.Status())
		}
	}
}

func (e *supEnv) upCount() int {
	e.g.pool.mu.Lock()
	defer e.g.pool.mu.Unlock()
	return len(e.g.pool.backends)
}

// supResult is what a client got from the gateway.
type supResult struct {
	code    int
	body    []byte
	aborted bool // the handler aborted the response (the client sees a cut)
}

// supRecorder is a ResponseWriter that a test may read while the response
// is written.
type supRecorder struct {
	mu     sync.Mutex
	header http.Header
	code   int
	body   bytes.Buffer
	wrote  chan struct{} // closed at the first body byte
	once   sync.Once
	ctx    context.Context // the request's: once it ends, writes fail, as to a client gone
}

func newSupRecorder() *supRecorder {
	return &supRecorder{header: http.Header{}, wrote: make(chan struct{})}
}

func (r *supRecorder) Header() http.Header { return r.header }
func (r *supRecorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.code == 0 {
		r.code = code
	}
}
func (r *supRecorder) Write(p []byte) (int, error) {
	if r.ctx != nil && r.ctx.Err() != nil {
		return 0, r.ctx.Err()
	}
	r.mu.Lock()
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.body.Write(p)
	r.mu.Unlock()
	if n > 0 {
		r.once.Do(func() { close(r.wrote) })
	}
	return n, err
}
func (r *supRecorder) Flush() {}

// serve runs one request through the gateway as net/http would, the abort
// panic included.
func (e *supEnv) serve(ctx context.Context, method, path string, rec *supRecorder) (res supResult) {
	req := httptest.NewRequestWithContext(ctx, method, path, nil)
	rec.ctx = ctx
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			res.aborted = true
		}
		rec.mu.Lock()
		res.code, res.body = rec.code, bytes.Clone(rec.body.Bytes())
		rec.mu.Unlock()
	}()
	e.g.ServeHTTP(rec, req)
	return res
}

func (e *supEnv) get(path string) supResult {
	return e.serve(context.Background(), "GET", path, newSupRecorder())
}

// ok reports whether r is a complete 200 of n bytes.
func (r supResult) ok(n int) error {
	if r.aborted || r.code != http.StatusOK || len(r.body) != n {
		return fmt.Errorf("status %d, %d bytes, aborted %v; want a complete 200 of %d bytes (%.300q)", r.code, len(r.body), r.aborted, n, r.body)
	}
	return nil
}

// workerOf returns the fake worker with this pid.
func (e *supEnv) workerOf(pid int) *launchWorker {
	for _, w := range e.l.all() {
		if w.fakePid == pid {
			return w
		}
	}
	e.t.Fatalf("no fake worker has pid %d", pid)
	return nil
}

// slotWorker returns the fake worker up in slot id.
func (e *supEnv) slotWorker(id int) *launchWorker {
	e.t.Helper()
	for _, ws := range e.g.Status().Workers {
		if ws.ID == id && ws.PID != 0 {
			return e.workerOf(ws.PID)
		}
	}
	e.t.Fatalf("slot %d has no worker: %+v", id, e.g.Status())
	return nil
}

// pongs counts the heartbeat round trips observed for a worker slot.
func (e *supEnv) pongs(id int) uint64 {
	var m dto.Metric
	h := e.g.metrics.rtt.WithLabelValues(itoa(id))
	if err := h.(interface{ Write(*dto.Metric) error }).Write(&m); err != nil {
		e.t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// metric is the value of the parent's metric name for a worker slot (""
// for one without a worker label), as a scrape would see it: the sum over
// its other labels (a restart's reason).
func (e *supEnv) metric(name, worker string) float64 {
	e.t.Helper()
	var sum float64
	found := false
	fams, err := e.g.metrics.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.Metric {
			label := ""
			for _, l := range m.Label {
				if l.GetName() == "worker" {
					label = l.GetValue()
				}
			}
			if label != worker {
				continue
			}
			found = true
			switch {
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			}
		}
	}
	if !found {
		e.t.Fatalf("no metric %s{worker=%q}", name, worker)
	}
	return sum
}

// supLoad runs n clients calling do in a loop until stop is closed.
func supLoad(n int, stop <-chan struct{}, do func() error) (wait func() (ok int, errs []error)) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	okN := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := do()
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					okN++
				}
				mu.Unlock()
			}
		}()
	}
	return func() (int, []error) {
		wg.Wait()
		return okN, errs
	}
}
