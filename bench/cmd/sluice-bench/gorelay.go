package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/child/demo"
)

// The go-relay peer of the small scenario is the floor of sluice's design
// for small responses: the least a Go net/http front and a Go backend
// process can do to relay a request over a Unix socket. The front holds a
// connection per request in flight (no multiplexing, no flow control, no
// admission, no access log) and sends the request target alone; the
// backend runs child/demo's handler into a buffer and answers with its
// status, length and bytes; the front writes them with a Content-Length.
// Whatever sluice spends beyond it is its own. It stores and forwards
// whole bodies, so for large ones it is no floor of a design that streams
// them in bounded memory.
//
// The wire, both ways on one connection, one request at a time:
//
//	request: [4-byte target length][target]
//	reply:   [2-byte status][8-byte body length][body]
const (
	goRelayFrontEnv   = "SLUICE_BENCH_GORELAY_FRONT"   // the socket path: be the front, and start the backend on it
	goRelayBackendEnv = "SLUICE_BENCH_GORELAY_BACKEND" // the socket path: be the backend

	// goRelayMaxTarget bounds a request target on the wire (net/http
	// reads heads of up to 1 MiB by default); a longer one is answered 414
	// by the front.
	goRelayMaxTarget = 64 << 10
	goRelayReplyHead = 2 + 8
)

// goRelayDispatch runs the front or the backend and exits if this process
// was started as one; otherwise it returns at once.
func goRelayDispatch() {
	var err error
	if sock, ok := os.LookupEnv(goRelayBackendEnv); ok {
		err = serveGoRelayBackend(sock)
	} else if sock, ok := os.LookupEnv(goRelayFrontEnv); ok {
		err = serveGoRelayFront(sock)
	} else {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice-bench go-relay:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveGoRelayBackend answers on sock until SIGTERM or its parent's death
// (Pdeathsig).
func serveGoRelayBackend(sock string) error {
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return goRelayBackend(ctx, ln, demo.New(""))
}

// goRelayBackend serves h on every connection ln accepts until ctx ends,
// then closes ln and every connection, and returns once their goroutines
// have: a front that still holds a connection does not keep it running.
// It returns nil after ctx ended, and ln's error if that came first.
func goRelayBackend(ctx context.Context, ln net.Listener, h http.Handler) error {
	var (
		mu       sync.Mutex
		open     = map[net.Conn]struct{}{}
		stopping bool // set under mu when the connections are closed: later ones are closed at once
		conns    sync.WaitGroup
	)
	stopped := make(chan struct{})
	conns.Go(func() { // owned here: ends at ctx's end or at the return below, which waits for it
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		ln.Close()
		mu.Lock()
		stopping = true
		for c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	defer conns.Wait()
	defer close(stopped)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mu.Lock()
		if stopping {
			mu.Unlock()
			c.Close()
			continue
		}
		open[c] = struct{}{}
		mu.Unlock()
		conns.Go(func() { // owned here: waited for above; ends when c is closed by either side
			answerGoRelay(ctx, c, h)
			mu.Lock()
			delete(open, c)
			mu.Unlock()
			c.Close()
		})
	}
}

// answerGoRelay serves one connection until it fails or is closed.
func answerGoRelay(ctx context.Context, c net.Conn, h http.Handler) {
	r := bufio.NewReader(c)
	w := &bufferWriter{header: http.Header{}}
	var target []byte
	for {
		var n [4]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(n[:])
		if size > goRelayMaxTarget {
			return
		}
		target = slices.Grow(target[:0], int(size))[:size]
		if _, err := io.ReadFull(r, target); err != nil {
			return
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://relay"+string(target), nil)
		if err != nil {
			return
		}
		clear(w.header)
		w.status = 0
		w.buf = append(w.buf[:0], make([]byte, goRelayReplyHead)...)
		h.ServeHTTP(w, req)
		if w.status == 0 {
			w.status = http.StatusOK
		}
		binary.BigEndian.PutUint16(w.buf, uint16(w.status))
		binary.BigEndian.PutUint64(w.buf[2:], uint64(len(w.buf)-goRelayReplyHead))
		if _, err := c.Write(w.buf); err != nil {
			return
		}
	}
}

// bufferWriter is the backend's ResponseWriter: the status is kept, the
// headers dropped (the front answers octet-stream), the body collected.
type bufferWriter struct {
	header http.Header
	status int
	buf    []byte
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// goRelayConn is one of the front's connections to the backend.
type goRelayConn struct {
	c    net.Conn
	r    *bufio.Reader
	head []byte
	body []byte
}

// goRelayFront is the front's handler: it relays each request over a
// connection of its own, taken from idle or dialled, and keeps up to
// cap(idle) of them for the next requests until close.
type goRelayFront struct {
	sock   string
	idle   chan *goRelayConn
	mu     sync.Mutex
	closed bool // set by close: connections coming back are closed, not kept
}

func newGoRelayFront(sock string) *goRelayFront {
	return &goRelayFront{sock: sock, idle: make(chan *goRelayConn, 1024)}
}

func (f *goRelayFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.URL.RequestURI()
	if len(target) > goRelayMaxTarget {
		http.Error(w, "request target too long for go-relay", http.StatusRequestURITooLong)
		return
	}
	c, err := f.get()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	c.head = binary.BigEndian.AppendUint32(c.head[:0], uint32(len(target)))
	c.head = append(c.head, target...)
	var reply [goRelayReplyHead]byte
	status := 0
	if _, err = c.c.Write(c.head); err == nil {
		_, err = io.ReadFull(c.r, reply[:])
	}
	if err == nil {
		status = int(binary.BigEndian.Uint16(reply[:]))
		size := binary.BigEndian.Uint64(reply[2:])
		if size > 1<<30 {
			err = fmt.Errorf("go-relay: a reply of %d bytes; at most 1 GiB is relayed", size)
		} else {
			c.body = slices.Grow(c.body[:0], int(size))[:size]
			_, err = io.ReadFull(c.r, c.body)
		}
	}
	if err != nil {
		// Nothing of the reply went out: the client gets a 502, never a
		// truncated 200, and the connection, out of step, is dropped.
		c.c.Close()
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	w.Write(c.body)
	f.put(c)
}

func (f *goRelayFront) get() (*goRelayConn, error) {
	select {
	case c := <-f.idle:
		return c, nil
	default:
	}
	c, err := net.Dial("unix", f.sock)
	if err != nil {
		return nil, err
	}
	return &goRelayConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// put keeps c for the next request, or closes it once the front is closed
// or the pool is full.
func (f *goRelayFront) put(c *goRelayConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		select {
		case f.idle <- c:
			return
		default:
		}
	}
	c.c.Close()
}

// close closes the idle connections (each ends its backend goroutine) and
// every one that comes back afterwards.
func (f *goRelayFront) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for {
		select {
		case c := <-f.idle:
			c.c.Close()
		default:
			return
		}
	}
}

// serveGoRelayFront starts the backend on sock, then serves HTTP on a TCP
// loopback port it prints as "tcp ADDR", until SIGTERM or the backend's
// exit.
func serveGoRelayFront(sock string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	backend := exec.Command(self)
	backend.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, goRelayFrontEnv+"=") }),
		goRelayBackendEnv+"="+sock)
	backend.Stderr = os.Stderr
	backend.SysProcAttr = childProcAttr() // dies with the front
	if err := backend.Start(); err != nil {
		return fmt.Errorf("starting the backend: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- backend.Wait() }() // owned here: ends with the backend, which the deferred SIGTERM stops
	defer func() {
		backend.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	if err := waitForSocket(sock, exited, 10*time.Second); err != nil {
		return err
	}
	front := newGoRelayFront(sock)
	defer front.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }() // owned here: Shutdown or Close ends it, and its error is received below
	fmt.Printf("tcp %s\n", ln.Addr())
	var ended error
	select {
	case <-ctx.Done():
	case ended = <-errs:
		return ended
	case err := <-exited:
		exited <- err // for the deferred receive
		ended = fmt.Errorf("the backend exited: %v", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	if err := <-errs; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ended
}

// waitForSocket polls until something listens on the Unix socket sock, and
// gives up at limit or when the backend exits.
func waitForSocket(sock string, exited chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case werr := <-exited:
			exited <- werr
			return fmt.Errorf("the backend exited before it listened on %s: %v", sock, werr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the backend did not listen on %s within %v: %w", sock, limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startGoRelay re-executes this binary as the go-relay front (which starts
// its backend) in dir, and waits for its TCP address.
func startGoRelay(ctx context.Context, dir string) (*listening, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to re-execute as the go-relay peer: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), goRelayFrontEnv+"="+filepath.Join(dir, "go-relay.sock"))
	return startListening(ctx, cmd, filepath.Join(dir, "go-relay.log"), "the go-relay peer")
}
