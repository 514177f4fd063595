package parent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestSlowReaderOfAResponseTheKernelWouldHoldIsCut: a client that reads
// nothing, with a small receive window, asks for 1 MiB, which a loopback
// socket's send buffer would take whole at once (the response would then
// be "complete" in a millisecond and the connection, closed idle later,
// would trickle it out for as long as the client likes). The kernel holds
// only a bounded part unsent, so the write waits on the client and the
// send timeout cuts it; the connection is reset, so that the client gets
// no more of the response at its own pace: it reads at most what was in
// flight and then a reset, never the whole body.
func TestSlowReaderOfAResponseTheKernelWouldHoldIsCut(t *testing.T) {
	const size = 1 << 20
	e := gwStart(t, Config{SendTimeout: 300 * time.Millisecond})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.Write(make([]byte, size))
	}), nil)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.g, ConnState: e.g.ConnState, ConnContext: e.g.ConnContext}
	served := make(chan struct{})
	go func() { srv.Serve(e.g.LimitListener(raw, 0)); close(served) }() // stopped below
	defer func() { srv.Close(); <-served }()

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	conn, err := d.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: sluice\r\n\r\n")
	// Nothing is read until the send timeout has cut the response, or
	// the response ended without it (it went whole into the kernel).
	for deadline := time.Now().Add(gwWait); ; time.Sleep(10 * time.Millisecond) {
		// In this order: the cut counts before the request ends.
		ended := gwMetric(t, e.g, "sluice_http_request_duration_seconds", nil) == 1
		if gwMetric(t, e.g, "sluice_http_send_timeouts_total", nil) == 1 {
			break
		}
		if ended {
			t.Fatal("the response ended whole, to a client that read nothing: the kernel took it all")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no send timeout within %v", gwWait)
		}
	}
	conn.SetReadDeadline(time.Now().Add(gwWait))
	n, err := io.Copy(io.Discard, conn)
	if !errors.Is(err, syscall.ECONNRESET) || n >= size {
		t.Errorf("the client read %d bytes then %v; want less than the body, then a reset", n, err)
	}
}
