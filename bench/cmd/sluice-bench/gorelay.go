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
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/child/demo"
)

// The go-relay peer of the small scenario is the floor of sluice's design:
// the least a Go net/http front and a Go backend process can do to relay a
// request over a Unix socket. The front holds a connection per request in
// flight (no multiplexing, no flow control, no admission, no access log)
// and sends the request target alone; the backend runs child/demo's
// handler into a buffer and answers with its length and bytes; the front
// writes them with a Content-Length. Whatever sluice spends beyond it is
// its own; what this floor spends beyond nginx in front of the Go upstream
// is what any design with a Go front and a Go worker spends.
const (
	goRelayFrontEnv   = "SLUICE_BENCH_GORELAY_FRONT"   // the socket path: be the front, and start the backend on it
	goRelayBackendEnv = "SLUICE_BENCH_GORELAY_BACKEND" // the socket path: be the backend
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
	go func() { <-ctx.Done(); ln.Close() }() // owned here: ends with the signal context, which closes the listener
	err = goRelayBackend(ln, demo.New(""))
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// goRelayBackend serves h on every connection ln accepts, until ln is
// closed and the connections' peers have closed them; each connection
// carries one request at a time.
func goRelayBackend(ln net.Listener, h http.Handler) error {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		conns.Go(func() { answerGoRelay(c, h) }) // owned here: waited for above; returns when the front closes c
	}
}

// answerGoRelay serves one connection: [2-byte length][target] in,
// [4-byte length][body] out.
func answerGoRelay(c net.Conn, h http.Handler) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := &bufferWriter{header: http.Header{}}
	target := make([]byte, 0, 256)
	for {
		var n [2]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return
		}
		target = target[:binary.BigEndian.Uint16(n[:])]
		if _, err := io.ReadFull(r, target); err != nil {
			return
		}
		req, err := http.NewRequest(http.MethodGet, "http://relay"+string(target), nil)
		if err != nil {
			return
		}
		clear(w.header)
		w.buf = append(w.buf[:0], 0, 0, 0, 0)
		h.ServeHTTP(w, req)
		binary.BigEndian.PutUint32(w.buf, uint32(len(w.buf)-4))
		if _, err := c.Write(w.buf); err != nil {
			return
		}
	}
}

// bufferWriter is the backend's ResponseWriter: the status and headers are
// dropped (the front answers 200 octet-stream), the body collected.
type bufferWriter struct {
	header http.Header
	buf    []byte
}

func (w *bufferWriter) Header() http.Header         { return w.header }
func (w *bufferWriter) WriteHeader(int)             {}
func (w *bufferWriter) Write(p []byte) (int, error) { w.buf = append(w.buf, p...); return len(p), nil }

// goRelayConn is one of the front's connections to the backend.
type goRelayConn struct {
	c    net.Conn
	r    *bufio.Reader
	head []byte
	body []byte
}

// goRelayFront is the front's handler: it relays each request over a
// connection of its own, taken from idle or dialled, and keeps up to
// cap(idle) of them for the next requests.
type goRelayFront struct {
	sock string
	idle chan *goRelayConn
}

func newGoRelayFront(sock string) *goRelayFront {
	return &goRelayFront{sock: sock, idle: make(chan *goRelayConn, 1024)}
}

func (f *goRelayFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := f.get()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	target := r.URL.RequestURI()
	c.head = binary.BigEndian.AppendUint16(c.head[:0], uint16(len(target)))
	c.head = append(c.head, target...)
	var n [4]byte
	if _, err = c.c.Write(c.head); err == nil {
		_, err = io.ReadFull(c.r, n[:])
	}
	if err == nil {
		size := int(binary.BigEndian.Uint32(n[:]))
		if cap(c.body) < size {
			c.body = make([]byte, size)
		}
		c.body = c.body[:size]
		_, err = io.ReadFull(c.r, c.body)
	}
	if err != nil {
		c.c.Close()
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(c.body)
	select {
	case f.idle <- c:
	default:
		c.c.Close()
	}
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

// close closes the idle connections (each ends its backend goroutine).
func (f *goRelayFront) close() {
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
// loopback port it prints as "tcp ADDR", until SIGTERM.
func serveGoRelayFront(sock string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	backend := exec.Command(self)
	backend.Env = append(os.Environ(), goRelayBackendEnv+"="+sock)
	backend.Stderr = os.Stderr
	backend.SysProcAttr = sysProcAttr() // dies with the front
	if err := backend.Start(); err != nil {
		return fmt.Errorf("starting the backend: %w", err)
	}
	defer func() { backend.Process.Signal(syscall.SIGTERM); backend.Wait() }()
	if err := waitForSocket(sock, 10*time.Second); err != nil {
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
	go func() { errs <- srv.Serve(ln) }() // owned here: Shutdown ends it, and its error is received below
	fmt.Printf("tcp %s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := <-errs; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// waitForSocket polls until something listens on the Unix socket sock.
func waitForSocket(sock string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return nil
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
