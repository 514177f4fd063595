package parent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestSlowReaderGivesBackItsSlot: a client that reads nothing of a
// response the worker has finished sending must not keep the worker's
// slot. With a hard cap of one stream on the only worker, a second
// client's request is served while the first still has its whole response
// waiting in the parent, and the first then gets all of it.
func TestSlowReaderGivesBackItsSlot(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: 2 * time.Second})
	// The parent's socket to the client takes little, as a front
	// connection's TCP_NOTSENT_LOWAT makes it take little more than what
	// is in flight, and the response fits in the stream's first window: the
	// worker sends it all and ends, while the parent's write waits.
	const size = 48 << 10
	front := gwSmallSendBuffer(t, e.g)
	handlerDone := make(chan struct{}, 2)
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { handlerDone <- struct{}{} }()
		if r.URL.Path == "/small" {
			io.WriteString(w, "small")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		io.Copy(w, io.LimitReader(gwNewPattern(size), size))
	}), nil)

	slow, err := gwSmallWindowDial(front)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /big HTTP/1.1\r\nHost: sluice\r\n\r\n")
	gwRecv(t, handlerDone, "the big response's handler to return")
	// The worker's END is what gives the slot back, not the client.
	gwUntil(t, "no stream counted open while the slow client reads nothing", func() bool { return e.gwOpen() == 0 })

	resp, err := e.client.Get("http://" + front + "/small")
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != 200 || string(body) != "small" {
		t.Fatalf("beside a client reading nothing: %v %q, %v; want 200 \"small\" (the slot given back at the stream's end)", statusOf(resp), body, err)
	}

	slow.SetReadDeadline(time.Now().Add(gwWait))
	sresp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := gwDigest(sresp.Body), gwDigest(io.LimitReader(gwNewPattern(size), size)); sresp.StatusCode != 200 || got != want {
		t.Fatalf("the slow client got %d with digest %s; want 200 and the whole response (%s)", sresp.StatusCode, got, want)
	}
}

// gwSmallSendBuffer serves g on a loopback listener whose connections
// have a 4 KiB send buffer, until the test ends, and returns its address.
func gwSmallSendBuffer(t *testing.T, g *Gateway) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g, ConnContext: func(ctx context.Context, c net.Conn) context.Context {
		if rc, err := c.(*net.TCPConn).SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
		}
		return ctx
	}}
	go srv.Serve(l) // ends at Close
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// statusOf is resp's status code, or 0 without a response.
func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
