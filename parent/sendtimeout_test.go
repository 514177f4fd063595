package parent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestSendTimeoutCutsStalledClient: a real loopback client that stops
// reading, with a small receive buffer, is cut once a write to it has
// waited the send timeout: the timeout is counted and logged, the reset
// ends the worker's handler, and the client never sees a complete response.
func TestSendTimeoutCutsStalledClient(t *testing.T) {
	e := gwStart(t, Config{SendTimeout: 200 * time.Millisecond})
	handlerEnd := make(chan error, 1)
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// It stops by itself: at its context's end, or after far more
		// than every buffer on the way holds.
		chunk := make([]byte, 64<<10)
		var werr error
		for range 1 << 14 {
			if _, werr = w.Write(chunk); werr != nil || r.Context().Err() != nil {
				break
			}
		}
		if werr != nil {
			// The reset fails the write and ends the context; the two
			// reach the handler in either order.
			select {
			case <-r.Context().Done():
			case <-time.After(gwWait):
			}
		}
		handlerEnd <- fmt.Errorf("context: %w (last write: %v)", r.Context().Err(), werr)
	}), nil)

	conn, err := gwSmallWindowDial(e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: sluice\r\n\r\n")
	// Nothing is read until the handler has ended.
	if err := gwRecv(t, handlerEnd, "the handler's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the handler ended with %v; want its context ended by the reset (not 1 GiB written to a client that reads nothing)", err)
	}
	// The parent counts the cut after it resets the stream, so the
	// handler may see its end first.
	gwUntil(t, "sluice_http_send_timeouts_total 1", func() bool {
		return gwMetric(t, e.g, "sluice_http_send_timeouts_total", nil) == 1
	})
	gwUntil(t, "sluice_http_aborted_total{cause=client} 1", func() bool {
		return gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "client"}) == 1
	})
	if recs := e.logs.records("client took no bytes within the send timeout, or took them slower than the minimum rate; response cut and its stream reset"); len(recs) != 1 || recs[0]["worker"] != 0.0 || recs[0]["path"] != "/stream" {
		t.Errorf("log records: %v; want one naming the worker and path", recs)
	}

	conn.SetReadDeadline(time.Now().Add(gwWait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || resp.StatusCode != 200 || resp.ContentLength >= 0 {
		t.Fatalf("the client read %d %d bytes (length %d) ending in %v; want the chunked body cut short", resp.StatusCode, n, resp.ContentLength, err)
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("after %d bytes the connection stayed open: %v", n, err)
	}
}

// TestVerifySendTimeout: a negative send timeout stops the start.
func TestVerifySendTimeout(t *testing.T) {
	if err := VerifyConfig(&Config{SendTimeout: -time.Second}); err == nil || err.Error() != "parent: SendTimeout -1s is negative; use 0 (none) or a duration" {
		t.Fatalf("VerifyConfig: %v", err)
	}
}
