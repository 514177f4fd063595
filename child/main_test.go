package child

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/sockopt"
)

// childTestEnv, set to 1, makes the test binary a worker (see run_test.go):
// the way to test Main, which exits the process.
const childTestEnv = "SLUICE_CHILD_TEST"

func TestMain(m *testing.M) {
	if os.Getenv(childTestEnv) == "1" {
		Main(testWorkerHandler())
	}
	goleak.VerifyTestMain(m)
}

// wait bounds how long a test waits for something that should happen; it
// fails the test rather than hang, and never serves as synchronisation.
const wait = 10 * time.Second

// within fails the test if ch does not deliver within wait.
func within[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out after %v waiting for %s", wait, what)
		panic("unreachable")
	}
}

// socketpair returns the two ends of a real Unix stream socketpair.
func socketpair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	local, remote, err := sockopt.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	c, err := net.FileConn(remote)
	if err != nil {
		local.Close()
		t.Fatalf("FileConn: %v", err)
	}
	return local, c
}

// logSink collects log output, so that tests can look for a record and
// failing tests can show what was logged.
type logSink struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	kick chan struct{}
}

func newLogSink(t testing.TB) *logSink {
	s := &logSink{kick: make(chan struct{}, 1)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", s.String())
		}
	})
	return s
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *logSink) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor waits until the log contains substr.
func (s *logSink) waitFor(t testing.TB, substr string) {
	t.Helper()
	deadline := time.After(wait)
	for !strings.Contains(s.String(), substr) {
		select {
		case <-s.kick:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %q in the log", wait, substr)
		}
	}
}

// loadLog records the load reports the parent receives.
type loadLog struct {
	mu   sync.Mutex
	all  []ipc.Load
	next int // the first report the next waitFor looks at
	kick chan struct{}
}

func (l *loadLog) add(x ipc.Load) {
	l.mu.Lock()
	l.all = append(l.all, x)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// waitFor waits for a report that satisfies ok, looking at reports from the
// first one the previous waitFor did not consume.
func (l *loadLog) waitFor(t testing.TB, what string, ok func(ipc.Load) bool) ipc.Load {
	t.Helper()
	deadline := time.After(wait)
	for {
		l.mu.Lock()
		for ; l.next < len(l.all); l.next++ {
			if ok(l.all[l.next]) {
				x := l.all[l.next]
				l.next++
				l.mu.Unlock()
				return x
			}
		}
		last := ipc.Load{}
		if len(l.all) > 0 {
			last = l.all[len(l.all)-1]
		}
		l.mu.Unlock()
		select {
		case <-l.kick:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for a load report with %s; last was %+v", wait, what, last)
		}
	}
}

// worker is Serve on one end of a socketpair, with an ipc.Client playing
// the parent on the other.
type worker struct {
	parent *ipc.Conn
	loads  *loadLog
	log    *logSink // the worker's log
	plog   *logSink // the parent connection's log
	cancel context.CancelFunc
	served chan error
}

// startWorker serves h with cfg (nil: defaults) and connects a parent with
// pcfg (nil: defaults). At cleanup the parent closes the connection and
// Serve must return.
func startWorker(t *testing.T, ctx context.Context, h http.Handler, cfg *Config, pcfg *ipc.Config) *worker {
	t.Helper()
	return startWorkerOn(t, ctx, h, cfg, pcfg, nil)
}

// startWorkerOn is startWorker with the worker's end of the socket passed
// through wrap (if not nil) before Serve gets it.
func startWorkerOn(t *testing.T, ctx context.Context, h http.Handler, cfg *Config, pcfg *ipc.Config, wrap func(net.Conn) net.Conn) *worker {
	t.Helper()
	w := &worker{
		loads:  &loadLog{kick: make(chan struct{}, 1)},
		log:    newLogSink(t),
		plog:   newLogSink(t),
		served: make(chan error, 1),
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = w.log.logger()
	}
	var pc ipc.Config
	if pcfg != nil {
		pc = *pcfg
	}
	pc.OnLoad = w.loads.add
	pc.Logger = w.plog.logger()

	a, b := socketpair(t)
	if wrap != nil {
		b = wrap(b)
	}
	ctx, w.cancel = context.WithCancel(ctx)
	go func() { w.served <- Serve(ctx, b, h, &c) }()
	conn, err := ipc.Client(a, &pc)
	if err != nil {
		w.cancel()
		within(t, w.served, "Serve to return after a failed handshake")
		t.Fatalf("handshake: %v", err)
	}
	w.parent = conn
	t.Cleanup(func() {
		w.cancel()
		conn.Close()
		within(t, w.served, "Serve to return")
	})
	return w
}

// reqHead is a request head as the gateway sends it.
func reqHead(method, path string, headers ...ipc.Field) ipc.Fields {
	return append(ipc.Fields{
		{Name: ":method", Value: method},
		{Name: ":path", Value: path},
		{Name: ":authority", Value: "example.test"},
		{Name: ":scheme", Value: "http"},
		{Name: ":remote", Value: "192.0.2.1:4321"},
		{Name: ":proto", Value: "HTTP/1.1"},
	}, headers...)
}

// open opens a stream; with end, the head is the whole request.
func (w *worker) open(t testing.TB, head ipc.Fields, end bool) *ipc.Stream {
	t.Helper()
	st, err := w.parent.OpenStream(context.Background(), head, end)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	return st
}

// get opens a GET without a body.
func (w *worker) get(t testing.TB, path string) *ipc.Stream {
	t.Helper()
	return w.open(t, reqHead(http.MethodGet, path), true)
}

// respHead is a response head as a status and a header.
type respHead struct {
	status int
	header http.Header
}

// readHead waits for the response head of st.
func readHead(t testing.TB, st *ipc.Stream) respHead {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	f, err := st.ReadHead(ctx)
	if err != nil {
		t.Fatalf("stream %d: ReadHead: %v", st.ID(), err)
	}
	h := respHead{header: make(http.Header)}
	for _, kv := range f {
		if kv.Name == ":status" {
			h.status, _ = strconv.Atoi(kv.Value)
			continue
		}
		h.header.Add(kv.Name, kv.Value)
	}
	if h.status == 0 {
		t.Fatalf("stream %d: response head without :status: %v", st.ID(), f)
	}
	return h
}

// readBody reads st to its end, failing the test if that takes too long.
func readBody(t testing.TB, st *ipc.Stream) ([]byte, error) {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b, err := io.ReadAll(st)
		ch <- res{b, err}
	}()
	r := within(t, ch, "the response body")
	return r.b, r.err
}

// mustBody reads a complete response body.
func mustBody(t testing.TB, st *ipc.Stream) string {
	t.Helper()
	b, err := readBody(t, st)
	if err != nil {
		t.Fatalf("stream %d: reading the body: %v (after %d bytes)", st.ID(), err, len(b))
	}
	return string(b)
}

// streamCode returns the code of the *ipc.StreamError in err, failing the
// test if there is none.
func streamCode(t testing.TB, err error) ipc.Code {
	t.Helper()
	var se *ipc.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want an *ipc.StreamError", err)
	}
	return se.Code
}

// testWorkerHandler is what the test binary serves when it runs as a
// worker process (see TestMain).
func testWorkerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from a worker process")
	})
	// /signal sends its head, waits for SIGTERM, says so, and then ends, or
	// with ?hang=1 never ends.
	mux.HandleFunc("/signal", func(w http.ResponseWriter, r *http.Request) {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		defer signal.Stop(sigs)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // tells the test that Notify is in place
		<-sigs
		io.WriteString(w, "signalled")
		w.(http.Flusher).Flush()
		if r.URL.Query().Get("hang") != "" {
			select {}
		}
	})
	return mux
}
