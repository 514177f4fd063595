package parent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestRequestContextEndsAtTimeout: the attempts' context ends at the
// request timeout, told from the client's going away by its cause.
func TestRequestContextEndsAtTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &Gateway{cfg: Config{RequestTimeout: time.Second}}
		ctx, cancel := g.requestContext(httptest.NewRequest("GET", "/", nil))
		defer cancel()
		time.Sleep(time.Second - time.Nanosecond)
		synctest.Wait()
		if ctx.Err() != nil {
			t.Fatalf("ended %v before the timeout", ctx.Err())
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !timedOut(ctx) {
			t.Fatalf("at the timeout: %v (cause %v); want it timed out", ctx.Err(), context.Cause(ctx))
		}

		client, leave := context.WithCancel(context.Background())
		r := httptest.NewRequest("GET", "/", nil).WithContext(client)
		ctx, cancel = g.requestContext(r)
		defer cancel()
		leave()
		if ctx.Err() == nil || timedOut(ctx) {
			t.Fatalf("client gone: %v, timed out %v; want ended, not by the timeout", ctx.Err(), timedOut(ctx))
		}
	})
}

// TestRequestContextWithoutTimeout: no timeout, the client's context.
func TestRequestContextWithoutTimeout(t *testing.T) {
	g := &Gateway{}
	r := httptest.NewRequest("GET", "/", nil)
	if ctx, cancel := g.requestContext(r); ctx != r.Context() {
		t.Fatal("a request context of its own without a timeout")
	} else {
		cancel()
	}
}

// TestRequestTimeoutBeforeResponse: a handler that does not answer within
// the timeout has its context ended, and the client gets 504.
func TestRequestTimeoutBeforeResponse(t *testing.T) {
	e := gwStart(t, Config{RequestTimeout: 100 * time.Millisecond})
	h := gwNewHold()
	e.addWorker(0, h, nil)
	resp, body, err := e.get("/slow")
	if err != nil || resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "request timeout (100ms)") {
		t.Fatalf("%v %v %q; want 504 naming the timeout", err, resp, body)
	}
	if err := gwRecv(t, h.ended, "the handler's end"); err == nil {
		t.Fatal("the handler was released; want its context ended")
	}
	if got := gwMetric(t, e.g, "sluice_http_request_timeouts_total", map[string]string{"phase": "before_response"}); got != 1 {
		t.Errorf("timeouts{before_response} = %v; want 1", got)
	}
	if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "504"}); got != 1 {
		t.Errorf("requests{504} = %v; want 1", got)
	}
}

// TestRequestTimeoutDuringResponse: a response under way at the timeout
// is cut, so that the client sees a truncation, and the handler's context
// ends.
func TestRequestTimeoutDuringResponse(t *testing.T) {
	e, lines := gwAccess(t, Config{RequestTimeout: 200 * time.Millisecond})
	ended := make(chan error, 1)
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "begun")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		ended <- r.Context().Err()
	}), nil)
	resp, err := e.client.Get(e.url("/stream"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", err, resp)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %q ending in %v; want the chunked body cut", body, err)
	}
	gwRecv(t, ended, "the handler's context to end")
	if got := gwMetric(t, e.g, "sluice_http_request_timeouts_total", map[string]string{"phase": "during_response"}); got != 1 {
		t.Errorf("timeouts{during_response} = %v; want 1", got)
	}
	if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "timeout"}); got != 1 {
		t.Errorf("aborted{timeout} = %v; want 1", got)
	}
	if rec := accessLines(t, lines, 1)[0]; rec["end"] != "timeout" || rec["status"] != 200.0 {
		t.Errorf("line %v; want end=timeout", rec)
	}
}

// TestRequestTimeoutInQueue: a request still waiting for a worker at its
// timeout gets 504, not a 503 that would have it retried.
func TestRequestTimeoutInQueue(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: gwWait, RequestTimeout: 300 * time.Millisecond})
	h := gwNewHold()
	e.addWorker(0, h, nil)
	first := e.getAsync("/first")
	gwRecv(t, h.started, "the first request")
	resp, _, err := e.get("/second")
	if err != nil || resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("%v %v; want 504", err, resp)
	}
	if r := gwRecv(t, first, "the first response"); r.err != nil || r.resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("first: %v %v; want 504", r.err, r.resp)
	}
	if got := gwMetric(t, e.g, "sluice_http_refused_total", nil); got != 0 {
		t.Errorf("refused = %v; want 0", got)
	}
}

// TestVerifyRequestLimits: bad values stop the start.
func TestVerifyRequestLimits(t *testing.T) {
	for _, c := range []Config{{RequestTimeout: -1}, {MaxBody: -1}, {AccessLogFormat: "xml"}} {
		if err := VerifyConfig(&c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestRequestTimeoutBoundsAHeldBody: a small body the gateway reads whole
// before any worker has the request (to retry it) is read within the
// request timeout: a client that sends part of it and stalls, well within
// the body timeout, gets 504 at the request timeout, and no worker sees
// the request.
func TestRequestTimeoutBoundsAHeldBody(t *testing.T) {
	e := gwStart(t, Config{RequestTimeout: 200 * time.Millisecond, BodyTimeout: time.Minute})
	h := gwNewHold()
	e.addWorker(0, h, nil)
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: sluice\r\nContent-Length: 1000\r\n\r\n0123456789")
	conn.SetReadDeadline(time.Now().Add(gwWait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body within %v: %v", gwWait, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "request timeout (200ms)") {
		t.Fatalf("%d %q; want 504 naming the request timeout", resp.StatusCode, body)
	}
	if got := gwMetric(t, e.g, "sluice_http_request_timeouts_total", map[string]string{"phase": "before_response"}); got != 1 {
		t.Errorf("timeouts{before_response} = %v; want 1", got)
	}
	select {
	case <-h.started:
		t.Error("a worker got the request; want it answered before any had it")
	default:
	}
}
