package parent

import (
	"bufio"
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
	conn, err := gwSmallWindowDial(gwTCPFront(t, e.g))
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

// TestResponseTheKernelHoldsIsWaitedFor: a response small enough for the
// kernel to take whole (within TCP_NOTSENT_LOWAT) to a client that reads
// nothing is not done when its last write returns: the handler waits for
// the client to take it, and, at the send timeout, cuts it as a write that
// missed it would be. The client gets less than the body, then a reset,
// rather than the rest at its own pace from an orphaned socket.
func TestResponseTheKernelHoldsIsWaitedFor(t *testing.T) {
	const size = kernelSized
	e, conn := gwAskKernelSized(t, 300*time.Millisecond)
	gwUntil(t, "sluice_http_send_timeouts_total 1", func() bool {
		return gwMetric(t, e.g, "sluice_http_send_timeouts_total", nil) == 1
	})
	if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "client"}); got != 1 {
		t.Errorf("aborted{cause=client} = %v; want 1", got)
	}
	conn.SetReadDeadline(time.Now().Add(gwWait))
	n, err := io.Copy(io.Discard, conn)
	if !errors.Is(err, syscall.ECONNRESET) || n >= size {
		t.Errorf("the client read %d bytes then %v; want less than the body, then a reset", n, err)
	}
}

// TestResponseWaitWithAnUnreadBodyEnds: a client that offered a body
// (Expect: 100-continue, never sent: the handler does not read it) and
// reads nothing of the answer is cut at the send timeout like any other,
// and the request ends: the stream is reset before the wait, so that the
// body's sender, waiting for the worker to ask for the body, stops.
func TestResponseWaitWithAnUnreadBodyEnds(t *testing.T) {
	e, _ := gwAskKernelSizedWith(t, 300*time.Millisecond,
		"POST /big HTTP/1.1\r\nHost: sluice\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
	gwUntil(t, "the request to end (sluice_http_request_duration_seconds 1)", func() bool {
		return gwMetric(t, e.g, "sluice_http_request_duration_seconds", nil) == 1
	})
	if got := gwMetric(t, e.g, "sluice_http_send_timeouts_total", nil); got != 1 {
		t.Errorf("send timeouts = %v; want 1", got)
	}
	if open := e.gwOpen(); open != 0 {
		t.Errorf("%d streams counted open after the request ended; want 0", open)
	}
}

// TestNextTakenPoll: while the queue moves, the next look comes when it
// would be empty at that rate; while it does not, the wait doubles; always
// within [takenPollFirst, min(takenPollMax, what the budget has left)].
func TestNextTakenPoll(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		last, waited time.Duration
		moved, left  int
		remaining    time.Duration
		want         time.Duration
	}{
		{ms, ms, 100, 1000, time.Minute, 10 * ms},                     // empty in 10 ms at this rate
		{ms, ms, 1000, 10, time.Minute, takenPollFirst},               // nearly empty: soon
		{4 * ms, 4 * ms, 0, 1000, time.Minute, 8 * ms},                // stalled: doubles
		{ms, 5 * time.Second, 32, 1 << 20, time.Minute, takenPollMax}, // a trickle: at most a second
		{ms, ms, 1, 1 << 20, 300 * ms, 300 * ms},                      // never past the budget
	} {
		if got := nextTakenPoll(tc.last, tc.waited, tc.moved, tc.left, tc.remaining); got != tc.want {
			t.Errorf("nextTakenPoll(%v, %v, %d, %d, %v) = %v; want %v", tc.last, tc.waited, tc.moved, tc.left, tc.remaining, got, tc.want)
		}
	}
}

// TestResponseTakenInTimeIsNotCut: a client that reads a response the
// kernel took whole, a moment later, gets all of it.
func TestResponseTakenInTimeIsNotCut(t *testing.T) {
	const size = kernelSized
	e, conn := gwAskKernelSized(t, 5*time.Second)
	time.Sleep(50 * time.Millisecond) // the client is slow to start reading, not stalled
	conn.SetReadDeadline(time.Now().Add(gwWait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	if got := gwMetric(t, e.g, "sluice_http_send_timeouts_total", nil); got != 0 {
		t.Errorf("send timeouts = %v; want 0", got)
	}
}

// kernelSized is a response under frontNotSentLowat: the kernel takes it
// all, whether the client reads or not.
const kernelSized = 256 << 10

// gwAskKernelSized starts a gateway with sendTimeout whose worker answers
// kernelSized bytes, and asks it for them over a connection with a small
// receive window (closed when the test ends).
func gwAskKernelSized(t *testing.T, sendTimeout time.Duration) (*gwEnv, net.Conn) {
	return gwAskKernelSizedWith(t, sendTimeout, "GET /big HTTP/1.1\r\nHost: sluice\r\n\r\n")
}

// gwAskKernelSizedWith is gwAskKernelSized with the request's text.
func gwAskKernelSizedWith(t *testing.T, sendTimeout time.Duration, request string) (*gwEnv, net.Conn) {
	e := gwStart(t, Config{SendTimeout: sendTimeout})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(kernelSized))
		w.Write(make([]byte, kernelSized))
	}), nil)
	conn, err := gwSmallWindowDial(gwTCPFront(t, e.g))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, request)
	return e, conn
}

// gwTCPFront serves g as sluice serve does (GuardFraming over
// LimitListener, the gateway's connection hooks) straight on a loopback TCP
// listener, whose sockets the gateway tunes, until the test ends, and
// returns its address.
func gwTCPFront(t *testing.T, g *Gateway) string {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g, ConnState: g.ConnState, ConnContext: g.ConnContext}
	served := make(chan struct{})
	go func() { srv.Serve(g.GuardFraming(srv, g.LimitListener(raw, 0))); close(served) }() // stopped at cleanup
	t.Cleanup(func() { srv.Close(); <-served })
	return raw.Addr().String()
}
