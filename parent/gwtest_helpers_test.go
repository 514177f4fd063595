package parent

// Helpers for the in-process Gateway tests: a Gateway served by httptest on
// loopback, with workers that the test connects itself (child.Serve over a
// socketpair, or a raw ipc.Server end the test drives frame by frame) and
// registers in the pool as Supervisor.register does. No process is spawned.
// Every name here starts with gw, so as not to collide with the supervisor
// tests of the same package.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/sockopt"
)

// gwWait bounds every wait of these tests: a test that would hang fails
// instead. It is never used to let something happen.
const gwWait = 10 * time.Second

// gwLogs collects log output as JSON lines.
type gwLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *gwLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *gwLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// records returns the log records whose msg is msg.
func (l *gwLogs) records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// gwEnv is a Gateway under test, served on loopback.
type gwEnv struct {
	t      *testing.T
	g      *Gateway
	srv    *httptest.Server // the Gateway
	admin  *httptest.Server // its AdminHandler
	client *http.Client
	logs   *gwLogs
}

// gwStart builds a Gateway from cfg (one worker slot unless set; no cgroup
// sizing) and serves it and its admin handler with httptest. Nothing is
// spawned: the test adds workers with addWorker or addRawWorker.
func gwStart(t *testing.T, cfg Config) *gwEnv {
	t.Helper()
	logs := &gwLogs{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.IPC == nil {
		cfg.IPC = &ipc.Config{}
	}
	if cfg.IPC.Logger == nil {
		ic := *cfg.IPC
		ic.Logger = cfg.Logger.With("ipc", "parent")
		cfg.IPC = &ic
	}
	if cfg.WorkerMemoryLimit == 0 {
		cfg.WorkerMemoryLimit = -1
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &gwEnv{t: t, g: g, logs: logs}
	// Cleanups run last-in first-out: the servers close after the workers,
	// whose end fails any request still running.
	e.srv = httptest.NewUnstartedServer(g)
	e.srv.Config.ErrorLog = gwPanicLog(t)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.admin = httptest.NewServer(g.AdminHandler())
	t.Cleanup(e.admin.Close)
	e.client = e.srv.Client()
	// No request may hang a test that regresses: each ends within this.
	e.client.Timeout = 3 * gwWait
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway logs:\n%s", logs.String())
		}
	})
	return e
}

// gwPanicLog is an http.Server's ErrorLog that fails t, once the server
// has closed, if net/http logged a panic: it recovers a handler's panic and
// drops the connection, and the test would otherwise pass. Register it
// before the server's Close, so that its check runs after.
func gwPanicLog(t *testing.T) *log.Logger {
	t.Helper()
	logs := &gwLogs{}
	t.Cleanup(func() {
		if s := logs.String(); strings.Contains(s, "panic") {
			t.Errorf("net/http recovered a panic in the gateway:\n%s", s)
		}
	})
	return log.New(logs, "", 0)
}

// gwWorker is a worker connected to the gateway in-process.
type gwWorker struct {
	id     int
	b      *backend
	conn   *ipc.Conn // the parent's end
	wnc    net.Conn  // the worker's socket: closing it is the worker dying
	cancel context.CancelFunc
	done   chan struct{} // closed when child.Serve returned
	err    error         // what it returned, once done is closed
}

// gwSocketpair returns both ends of a Unix socketpair as net.Conns.
func gwSocketpair(t testing.TB) (parentEnd, workerEnd net.Conn) {
	t.Helper()
	local, remote, err := sockopt.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	wc, err := net.FileConn(remote)
	if err != nil {
		local.Close()
		t.Fatal(err)
	}
	return local, wc
}

// gwChildConn runs h with child.Serve on one end of a socketpair and
// returns the parent's ipc connection to it; the test's cleanup closes the
// connection and stops the worker.
func gwChildConn(t testing.TB, h http.Handler) *ipc.Conn {
	t.Helper()
	pnc, wnc := gwSocketpair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- child.Serve(ctx, wnc, h, &child.Config{}) }()
	conn, err := ipc.Client(pnc, &ipc.Config{})
	if err != nil {
		pnc.Close()
		cancel()
		<-done
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-done
	})
	return conn
}

// addWorker runs h with child.Serve on one end of a socketpair, connects the
// other as the parent does, and routes requests to it as worker id.
func (e *gwEnv) addWorker(id int, h http.Handler, ccfg *child.Config) *gwWorker {
	e.t.Helper()
	w := e.startWorker(id, h, ccfg)
	e.g.pool.add(w.b)
	return w
}

// startWorker is addWorker without routing to it.
func (e *gwEnv) startWorker(id int, h http.Handler, ccfg *child.Config) *gwWorker {
	t := e.t
	t.Helper()
	if ccfg == nil {
		ccfg = &child.Config{}
	}
	if ccfg.Logger == nil {
		ccfg.Logger = slog.New(slog.NewJSONHandler(e.logs, nil)).With("worker", id)
	}
	pnc, wnc := gwSocketpair(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := &gwWorker{id: id, wnc: wnc, cancel: cancel, done: make(chan struct{})}
	go func() {
		w.err = child.Serve(ctx, wnc, h, ccfg)
		close(w.done)
	}()
	w.b = &backend{id: id, pid: gwFakePID(id)}
	conn, err := ipc.Client(pnc, e.g.pool.connConfig(e.g.cfg.IPC, w.b))
	if err != nil {
		cancel()
		t.Fatalf("handshake with worker %d: %v", id, err)
	}
	w.conn, w.b.conn = conn, conn
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case <-w.done:
		case <-time.After(gwWait):
			t.Errorf("worker %d: child.Serve did not return after its connection closed", id)
		}
	})
	return w
}

// gwRaw is a worker end the test drives itself with the ipc API: to refuse
// or reset streams, die at a chosen moment, or send a malformed head.
type gwRaw struct {
	id   int
	b    *backend
	conn *ipc.Conn // the parent's end
	peer *ipc.Conn // the worker's end
}

// addRawWorker connects a raw ipc.Server end and routes to it as worker id.
func (e *gwEnv) addRawWorker(id int) *gwRaw { return e.addRawWorkerWith(id, ipc.Config{}) }

// addRawWorkerWith is addRawWorker with the worker end's ipc settings.
func (e *gwEnv) addRawWorkerWith(id int, cfg ipc.Config) *gwRaw {
	t := e.t
	t.Helper()
	pnc, wnc := gwSocketpair(t)
	srv := make(chan *ipc.Conn, 1)
	if cfg.Logger == nil {
		cfg.Logger = e.g.log.With("ipc", "raw worker")
	}
	go func() {
		c, err := ipc.Server(wnc, &cfg)
		if err != nil {
			t.Errorf("raw worker %d handshake: %v", id, err)
		}
		srv <- c
	}()
	b := &backend{id: id, pid: gwFakePID(id)}
	conn, err := ipc.Client(pnc, e.g.pool.connConfig(e.g.cfg.IPC, b))
	if err != nil {
		t.Fatal(err)
	}
	b.conn = conn
	peer := <-srv
	if peer == nil {
		t.FailNow()
	}
	r := &gwRaw{id: id, conn: conn, peer: peer, b: b}
	t.Cleanup(func() { conn.Close(); peer.Close() })
	e.g.pool.add(r.b)
	return r
}

// accept returns the next stream the gateway opens on the raw worker.
func (r *gwRaw) accept(t *testing.T) *ipc.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gwWait)
	defer cancel()
	st, err := r.peer.AcceptStream(ctx)
	if err != nil {
		t.Fatalf("raw worker %d: no stream: %v", r.id, err)
	}
	return st
}

// gwFakePID is the pid reported for in-process worker id: above Linux's
// PID_MAX_LIMIT, so that no signal sent to it could reach a real process.
func gwFakePID(id int) int { return 1<<22 + 1 + id }

// addSlot records w as the live worker of supervisor slot id, as
// Supervisor.register does, so that Status, /readyz and the worker metrics
// see it. Its process is a stand-in that has already exited (gwExitedHandle).
func (e *gwEnv) addSlot(id int, b *backend) *slot {
	p := &process{id: id, h: gwExitedHandle{b.pid}, conn: b.conn, started: time.Now()}
	sl := &slot{id: id, proc: p, backend: b, replace: make(chan chan error)}
	s := e.g.sup
	s.mu.Lock()
	s.slots = append(s.slots, sl)
	s.mu.Unlock()
	return sl
}

// gwExitedHandle is the workerHandle of a worker that has already exited,
// with a pid no real process has.
type gwExitedHandle struct{ p int }

var gwClosed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (h gwExitedHandle) pid() int                { return h.p }
func (h gwExitedHandle) signal(syscall.Signal)   {}
func (h gwExitedHandle) exited() <-chan struct{} { return gwClosed }
func (h gwExitedHandle) exitStatus() string      { return "exit status 0" }
func (h gwExitedHandle) rss() (int64, error)     { return 0, nil }
func (h gwExitedHandle) sendBuffer() int         { return 0 }

// url is the gateway's address for path.
func (e *gwEnv) url(path string) string { return e.srv.URL + path }

// get fetches path from the gateway and returns the response and all its
// body, or the error reading it.
func (e *gwEnv) get(path string) (*http.Response, []byte, error) {
	e.t.Helper()
	return e.do(gwRequest(e.t, "GET", e.url(path), nil))
}

func (e *gwEnv) do(req *http.Request) (*http.Response, []byte, error) {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// adminDo sends a request to the admin handler and returns status and body.
func (e *gwEnv) adminDo(method, path, body string) (*http.Response, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	resp, b, err := e.do(gwRequest(e.t, method, e.admin.URL+path, rd))
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, string(b)
}

func gwRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// gwMetric sums the parent's metric name over the series whose labels
// include want (counter, gauge or histogram sample count).
func gwMetric(t *testing.T, g *Gateway, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := g.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return gwSum(fams, name, want)
}

func gwSum(fams []*dto.MetricFamily, name string, want map[string]string) float64 {
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				sum += m.Untyped.GetValue()
			}
		}
	}
	return sum
}

// gwUntil polls cond until it holds, failing the test after gwWait. Only for
// state that nothing signals (a waiter queued in the pool, a load report).
func gwUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(gwWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", gwWait, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// gwRecv receives from ch or fails the test after gwWait.
func gwRecv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(gwWait):
		t.Fatalf("timed out after %v waiting for %s", gwWait, what)
		panic("unreachable")
	}
}

// gwOpen is how many streams the gateway holds on its workers.
func (e *gwEnv) gwOpen() int { open, _ := e.g.pool.counts(); return open }

// gwWaiting is how many requests wait for a slot.
func (e *gwEnv) gwWaiting() int { _, w := e.g.pool.counts(); return w }

// gwHold is a handler that blocks each request until released (or its
// context ends), reporting its start and then its end.
type gwHold struct {
	started chan string   // the request's URL path, when the handler runs
	release chan struct{} // one receive lets one request answer
	ended   chan error    // the handler's context error when it returned (nil if released)
	body    string
}

func gwNewHold() *gwHold {
	return &gwHold{started: make(chan string, 16), release: make(chan struct{}), ended: make(chan error, 16), body: "released\n"}
}

// let lets one running request answer, failing the test if none takes it.
func (h *gwHold) let(t *testing.T) {
	t.Helper()
	select {
	case h.release <- struct{}{}:
	case <-time.After(gwWait):
		t.Fatalf("no request took the release within %v", gwWait)
	}
}

func (h *gwHold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.started <- r.URL.Path
	select {
	case <-h.release:
		io.WriteString(w, h.body)
		h.ended <- nil
	case <-r.Context().Done():
		h.ended <- r.Context().Err()
	}
}

// gwAsync runs a GET of path in the background; the result arrives on the
// returned channel.
type gwResult struct {
	resp *http.Response
	body []byte
	err  error
}

func (e *gwEnv) getAsync(path string) <-chan gwResult {
	ch := make(chan gwResult, 1)
	req := gwRequest(e.t, "GET", e.url(path), nil)
	go func() {
		resp, body, err := e.do(req)
		ch <- gwResult{resp, body, err}
	}()
	return ch
}

// gwBlock is the material of gwPattern: 1 MiB of random bytes.
var gwBlock = func() []byte {
	b := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}()

// gwPattern is a cheap stream of size bytes for the large transfers (the
// demo payload's generator is slow under the race detector): MiB i is
// gwBlock rotated by i*7919 bytes, so that a lost, repeated or reordered
// MiB changes the digest.
type gwPattern struct{ pos, size int64 }

func gwNewPattern(size int64) *gwPattern { return &gwPattern{size: size} }

func (p *gwPattern) Read(b []byte) (int, error) {
	const m = 1 << 20
	n := 0
	for n < len(b) && p.pos < p.size {
		in := p.pos % m
		off := (in + (p.pos/m)*7919) % m
		k := copy(b[n:], gwBlock[off:min(m, off+(m-in))])
		k = int(min(int64(k), p.size-p.pos))
		n += k
		p.pos += int64(k)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// gwDigest is the sha-256 of r.
func gwDigest(r io.Reader) string {
	h := sha256.New()
	io.Copy(h, r)
	return string(h.Sum(nil))
}

// gwSmallWindowDial connects to addr with a 4 KiB receive buffer: a client
// whose kernel takes little of what it does not read.
func gwSmallWindowDial(addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	return d.Dial("tcp", addr)
}
