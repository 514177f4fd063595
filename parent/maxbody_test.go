package parent

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMaxBodyDeclaredTooLarge: a Content-Length over the limit gets 413
// with the limit, and the connection closed, before any worker sees it.
func TestMaxBodyDeclaredTooLarge(t *testing.T) {
	e := gwStart(t, Config{MaxBody: 1000})
	var calls atomic.Int32
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
	}), nil)
	resp, body, err := e.do(gwRequest(t, "POST", e.url("/up"), bytes.NewReader(make([]byte, 1001))))
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "limit of 1000 bytes") || !resp.Close {
		t.Fatalf("%v %v %q; want 413 naming the limit, connection closed", err, resp, body)
	}
	// At the limit it passes; the worker saw only that one.
	resp, _, err = e.do(gwRequest(t, "POST", e.url("/up"), bytes.NewReader(make([]byte, 1000))))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("at the limit: %v %v", err, resp)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the handler ran %d times; want once, for the body within the limit", n)
	}
}

// TestMaxBodyChunkedTooLarge: a body of no declared length that passes
// the limit before the worker answered gets 413, and the handler's read
// fails rather than see a body cut short as if whole.
func TestMaxBodyChunkedTooLarge(t *testing.T) {
	e, lines := gwAccess(t, Config{MaxBody: 1000})
	var sawWhole atomic.Bool
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The stream may be reset before the handler starts.
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			sawWhole.Store(true)
		}
	}), nil)
	// A reader of unknown length: the client sends it chunked.
	body := io.MultiReader(bytes.NewReader(make([]byte, 4000)))
	resp, msg, err := e.do(gwRequest(t, "POST", e.url("/up"), body))
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("%v %v %q; want 413", err, resp, msg)
	}
	if rec := accessLines(t, lines, 1)[0]; rec["end"] != "body_too_large" || rec["status"] != 413.0 {
		t.Errorf("line %v; want end=body_too_large, 413", rec)
	}
	if sawWhole.Load() {
		t.Error("the handler read the cut body to its end without an error")
	}
}

// gwHeadFirstWorker adds a worker that sends its head and a first part,
// then reads the whole body, then writes the rest.
func gwHeadFirstWorker(e *gwEnv) {
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "early answer")
		w.(http.Flusher).Flush()
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "and the rest")
	}), nil)
}

// TestMaxBodyChunkedTooLargeAfterResponse: a body that passes the limit
// once the response has started cuts the response.
func TestMaxBodyChunkedTooLargeAfterResponse(t *testing.T) {
	e, lines := gwAccess(t, Config{MaxBody: 1000})
	gwHeadFirstWorker(e)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, 500))
	resp, err := e.client.Do(gwRequest(t, "POST", e.url("/up"), pr))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", err, resp)
	}
	defer resp.Body.Close()
	go pw.Write(make([]byte, 1000))
	if got, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("read %q whole; want the response cut", got)
	}
	if rec := accessLines(t, lines, 1)[0]; rec["end"] != "body_too_large" || rec["status"] != 200.0 {
		t.Errorf("line %v; want end=body_too_large after a 200 head", rec)
	}
}
