package parent

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// stalledUpload sends a request head announcing length bytes of body,
// sends sent of them and then nothing, and returns the response the
// gateway gives (nil and the error if it gives none before gwWait).
func stalledUpload(t *testing.T, e *gwEnv, length, sent int) (*http.Response, error) {
	t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: sluice\r\nContent-Length: %d\r\n\r\n%s", length, strings.Repeat("x", sent))
	c.SetReadDeadline(time.Now().Add(gwWait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// TestBodyTimeoutStalledUpload: a client that sends part of a large body
// and then nothing gets 408 once the body timeout passes, the connection
// closes, the handler reading the body learns of it (its context ends),
// and the access log and the metric say why.
func TestBodyTimeoutStalledUpload(t *testing.T) {
	e, lines := gwAccess(t, Config{BodyTimeout: 200 * time.Millisecond})
	handlerEnd := make(chan error, 1)
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		handlerEnd <- fmt.Errorf("read: %v; context: %w", err, r.Context().Err())
	}), nil)
	resp, err := stalledUpload(t, e, 1<<20, 100<<10) // beyond what is held for a retry
	if err != nil || resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("%v %v; want 408 closing the connection", resp, err)
	}
	if err := gwRecv(t, handlerEnd, "the handler's end"); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("the handler ended with %v; want its context ended by the reset", err)
	}
	if rec := accessLines(t, lines, 1)[0]; rec["end"] != "body_timeout" || rec["status"] != 408.0 {
		t.Errorf("line %v; want end=body_timeout, 408", rec)
	}
	if got := gwMetric(t, e.g, "sluice_http_body_timeouts_total", nil); got != 1 {
		t.Errorf("sluice_http_body_timeouts_total = %v; want 1", got)
	}
}

// TestBodyTimeoutStalledSmallBody: a small body (one read in full before
// any worker sees it) that stalls gets 408 too, without a worker asked.
func TestBodyTimeoutStalledSmallBody(t *testing.T) {
	e, lines := gwAccess(t, Config{BodyTimeout: 200 * time.Millisecond})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), nil)
	resp, err := stalledUpload(t, e, 1000, 10)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("%v %v; want 408", resp, err)
	}
	if rec := accessLines(t, lines, 1)[0]; rec["end"] != "body_timeout" {
		t.Errorf("line %v; want end=body_timeout", rec)
	}
	if n := e.g.pool.served(e.g.pool.backends[0]); n != 0 {
		t.Errorf("%d requests routed to the worker; want none for a request whose body never came", n)
	}
}

// TestBodyTimeoutKeepsASteadyUpload: an upload that keeps coming, in
// pieces further apart than an eighth of the timeout, is not cut, and the
// connection's next request is not hit by a deadline left behind.
func TestBodyTimeoutKeepsASteadyUpload(t *testing.T) {
	e := gwStart(t, Config{BodyTimeout: 400 * time.Millisecond, BodyMinRate: DefaultBodyMinRate})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}), nil)
	pr, pw := io.Pipe()
	go func() { // owned by the test: it ends after its last piece
		for range 8 {
			pw.Write(make([]byte, 16<<10))
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, body, err := e.do(gwRequest(t, "POST", e.url("/up"), pr))
	if err != nil || resp.StatusCode != 200 || string(body) != fmt.Sprint(8*16<<10) {
		t.Fatalf("%v %v %q; want 200 with the whole body counted", err, resp, body)
	}
	time.Sleep(600 * time.Millisecond) // past the deadline the upload had
	// On the same connection: a deadline left on it would have closed it,
	// and the transport would quietly have dialled a new one. (net/http
	// resets it before the next request; this keeps that so.)
	var reused bool
	req := gwRequest(t, "POST", e.url("/again"), strings.NewReader("abc"))
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	resp, body, err = e.do(req)
	if err != nil || resp.StatusCode != 200 || string(body) != "3" || !reused {
		t.Fatalf("the next request: %v %v %q, on the same connection: %v", err, resp, body, reused)
	}
}

// TestBodyMinRateCutsATrickle: a client that keeps sending a few bytes,
// each piece well within the body timeout, but far slower than the
// minimum rate, gets 408 within about the timeout and its eighth, and the
// access log and the metric count it as a body timeout; without the rate
// it would hold the connection, the stream and the handler for as long as
// it liked.
func TestBodyMinRateCutsATrickle(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e, lines := gwAccess(t, Config{BodyTimeout: timeout, BodyMinRate: 1000})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}), nil)
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: sluice\r\nContent-Length: %d\r\n\r\n", 1<<20)
	// 10 bytes every 50 ms: 200 B/s, a fifth of the rate, for 20
	// timeouts. The writer stops at the first failed write (the test
	// closes the connection once it has its answer) or then; the test
	// waits for it.
	stillSending := make(chan bool, 1)
	go func() {
		start := time.Now()
		for time.Since(start) < 20*timeout {
			if _, err := c.Write([]byte("0123456789")); err != nil {
				stillSending <- true
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		stillSending <- false
	}()
	c.SetReadDeadline(time.Now().Add(gwWait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if !<-stillSending {
		t.Errorf("the client trickled for %v without being cut; want it cut while it still sends", 20*timeout)
	}
	if err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("%v %v; want 408", resp, err)
	}
	if rec := accessLines(t, lines, 1)[0]; rec["end"] != "body_timeout" || rec["status"] != 408.0 {
		t.Errorf("line %v; want end=body_timeout, 408", rec)
	}
	if got := gwMetric(t, e.g, "sluice_http_body_timeouts_total", nil); got != 1 {
		t.Errorf("sluice_http_body_timeouts_total = %v; want 1", got)
	}
}

// TestBodyTimeoutSparesAPausingWorker: over HTTP/1.1 and HTTP/2 alike, a
// worker that stops reading an upload for longer than the body timeout
// (its credit runs out, so the gateway stops reading too) does not get the
// upload cut: the timeout is the client's to answer for, not the worker's.
// Over HTTP/2 the read deadline is a timer that closes the body whether or
// not a read waits, so none may be left armed between reads.
func TestBodyTimeoutSparesAPausingWorker(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2c"}[h2], func(t *testing.T) {
			e := gwStart(t, Config{BodyTimeout: 300 * time.Millisecond})
			e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.CopyN(io.Discard, r.Body, 10<<10)
				time.Sleep(time.Second) // a worker busy elsewhere, longer than the timeout
				m, _ := io.Copy(io.Discard, r.Body)
				fmt.Fprint(w, n+m)
			}), nil)
			if h2 {
				e.gwServeH2(false)
			}
			const size = 32 << 20 // beyond what the windows and queues take without the worker
			resp, body, err := e.do(gwRequest(t, "POST", e.url("/up"), bytes.NewReader(make([]byte, size))))
			if err != nil || resp.StatusCode != 200 || string(body) != fmt.Sprint(size) {
				t.Fatalf("%v %v %q; want 200 with all %d bytes counted", err, resp, body, size)
			}
		})
	}
}
