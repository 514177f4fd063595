package parent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
)

// benchHelperEnv makes the test binary, re-executed by
// BenchmarkSmallRoundTrip, one of its servers: "sluice" a worker, "nethttp"
// a plain net/http server on the Unix socket named by benchSocketEnv.
const (
	benchHelperEnv = "SLUICE_PARENT_BENCH_SERVER"
	benchSocketEnv = "SLUICE_PARENT_BENCH_SOCKET"
)

// benchBodySize is the response the issue measures ("small responses").
const benchBodySize = 4 << 10

var benchBody = bytes.Repeat([]byte("s"), benchBodySize)

// benchHandler is the same fixed response for both servers. It names its
// length, as a worker does once it has the whole body, so that both send
// the same head and neither chunks.
func benchHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", strconv.Itoa(len(benchBody)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(benchBody)
}

// benchMallocsPath is where the net/http server reports its allocation
// count; a worker reports it as go_memstats_mallocs_total in its metrics.
const benchMallocsPath = "/_mallocs"

// TestBenchHelperServer is not a test: it is the server process that
// BenchmarkSmallRoundTrip starts (this binary, re-executed).
func TestBenchHelperServer(t *testing.T) {
	switch os.Getenv(benchHelperEnv) {
	case "sluice":
		child.Main(http.HandlerFunc(benchHandler))
	case "nethttp":
		ln, err := net.Listen("unix", os.Getenv(benchSocketEnv))
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/", benchHandler)
		mux.HandleFunc(benchMallocsPath, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, mallocs())
		})
		// Until the benchmark closes stdin: it owns this process.
		go func() { io.Copy(io.Discard, os.Stdin); ln.Close() }()
		srv := &http.Server{Handler: mux}
		srv.Serve(ln)
	default:
		t.Skip("a server process of BenchmarkSmallRoundTrip")
	}
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// benchWriter is the least a ResponseWriter can be, so that the parent's
// allocations are the gateway's own.
type benchWriter struct {
	h      http.Header
	status int
	n      int
	// deadlines counts the write deadlines set, across requests.
	deadlines int
	// flushes counts every flush, across requests: the head flushed on
	// its own is one more per request.
	flushes int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
func (w *benchWriter) Flush() { w.flushes++ }

// SetWriteDeadline takes the send timeout's deadlines, as net/http's
// writer does without allocating; a writer without it would have
// http.ResponseController allocate an ErrNotSupported on every request.
func (w *benchWriter) SetWriteDeadline(time.Time) error { w.deadlines++; return nil }

func (w *benchWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// BenchmarkSmallRoundTrip: one 4 KiB response through Gateway.ServeHTTP and
// a worker process over its socketpair, beside the same handler behind a
// plain net/http server on a Unix socket. allocs/op is this process's (the
// parent's, or the net/http client's); server-allocs/op is the worker's or
// the net/http server's, read from the server process before and after.
func BenchmarkSmallRoundTrip(b *testing.B) {
	self, err := os.Executable()
	if err != nil {
		b.Skip(err)
	}
	b.Run("sluice", func(b *testing.B) { benchSluice(b, self, nil, nil) })
	// A small upload, which the gateway holds so that it can be retried.
	b.Run("sluice-post-1KiB", func(b *testing.B) { benchSluice(b, self, bytes.Repeat([]byte("u"), 1<<10), nil) })
	// With the access log on, as sluice serve runs, written to a file (a
	// system call per line, as to stdout).
	b.Run("sluice-accesslog", func(b *testing.B) {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		benchSluice(b, self, nil, f)
	})
	// Through a real front: a loopback TCP connection served by
	// net/http, as sluice serve does (LimitListener, ConnContext);
	// front-writes/op counts the writes to the client's connection.
	b.Run("sluice-front", func(b *testing.B) { benchSluiceFront(b, self) })
	b.Run("net-http", func(b *testing.B) { benchNetHTTP(b, self) })
}

// benchGateway starts a Gateway with one worker process (this binary as
// TestBenchHelperServer) and waits for it; the returned function stops it.
func benchGateway(b *testing.B, self string, accessLog io.Writer) (*Gateway, func()) {
	g, err := New(Config{
		AccessLog: accessLog,
		Workers:   1,
		WorkerCmd: []string{self, "-test.run=^TestBenchHelperServer$"},
		WorkerEnv: []string{benchHelperEnv + "=sluice", launchNoRaceSleep},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		// As sluice serve runs: every write to the client has a deadline.
		SendTimeout: DefaultSendTimeout,
	})
	if err != nil {
		b.Fatal(err)
	}
	g.Start()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			b.Error(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(g.pool.ids()) == 0 {
		if time.Now().After(deadline) {
			stop()
			b.Fatal("the worker did not come up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return g, stop
}

func benchSluiceFront(b *testing.B, self string) {
	g, stop := benchGateway(b, self, nil)
	defer stop()
	addr, l, stopFront := gwFront(b, g)
	defer stopFront()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	req := []byte("GET /payload?size=4096 HTTP/1.1\r\nHost: bench\r\n\r\n")
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != benchBodySize {
			b.Fatalf("got %d with %d bytes, %v", resp.StatusCode, n, err)
		}
	}
	for range 100 {
		roundTrip()
	}
	before := l.count()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
	b.StopTimer()
	b.ReportMetric(float64(l.count()-before)/float64(b.N), "front-writes/op")
}

func benchSluice(b *testing.B, self string, upload []byte, accessLog io.Writer) {
	g, stop := benchGateway(b, self, accessLog)
	defer stop()
	id := g.pool.ids()[0]
	workerMallocs := func() float64 {
		fams, err := g.scrapeWorker(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		f := fams["go_memstats_mallocs_total"]
		if f == nil || len(f.Metric) == 0 {
			b.Fatal("the worker reports no go_memstats_mallocs_total")
		}
		return f.Metric[0].GetCounter().GetValue()
	}
	r := httptest.NewRequest("GET", "/payload?size=4096", nil)
	body := bytes.NewReader(upload)
	if upload != nil {
		r = httptest.NewRequest("POST", "/payload?size=4096", body)
	}
	w := &benchWriter{h: http.Header{}}
	roundTrip := func() {
		body.Reset(upload)
		w.reset()
		g.ServeHTTP(w, r)
		if w.status != http.StatusOK || w.n != benchBodySize {
			b.Fatalf("got %d with %d bytes", w.status, w.n)
		}
	}
	for range 100 {
		roundTrip()
	}
	before := workerMallocs()
	w.flushes, w.deadlines = 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
	b.StopTimer()
	// The scrape's own allocations are counted once, not per request.
	b.ReportMetric((workerMallocs()-before)/float64(b.N), "server-allocs/op")
	b.ReportMetric(float64(w.flushes)/float64(b.N), "flushes/op")
	b.ReportMetric(float64(w.deadlines)/float64(b.N), "deadlines/op")
}

func benchNetHTTP(b *testing.B, self string) {
	sock := filepath.Join(b.TempDir(), "s")
	cmd := exec.Command(self, "-test.run=^TestBenchHelperServer$")
	cmd.Env = append(os.Environ(), benchHelperEnv+"=nethttp", benchSocketEnv+"="+sock, launchNoRaceSleep)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the net/http server did not come up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	get := func(path string) []byte {
		resp, err := client.Get("http://bench" + path)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d, %v", path, resp.StatusCode, err)
		}
		return body
	}
	serverMallocs := func() float64 {
		n, err := strconv.ParseUint(strings.TrimSpace(string(get(benchMallocsPath))), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return float64(n)
	}
	buf := make([]byte, benchBodySize+1)
	roundTrip := func() {
		resp, err := client.Get("http://bench/payload?size=4096")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.ReadFull(resp.Body, buf)
		resp.Body.Close()
		if err != io.ErrUnexpectedEOF || n != benchBodySize {
			b.Fatalf("got %d bytes, %v", n, err)
		}
	}
	for range 100 {
		roundTrip()
	}
	before := serverMallocs()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
	b.StopTimer()
	b.ReportMetric((serverMallocs()-before)/float64(b.N), "server-allocs/op")
}
