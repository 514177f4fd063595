package parent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
)

// gwAccess starts a gateway whose access log, in JSON, the test reads.
func gwAccess(t *testing.T, cfg Config) (*gwEnv, *gwLogs) {
	t.Helper()
	lines := &gwLogs{}
	cfg.AccessLog, cfg.AccessLogFormat = lines, AccessLogJSON
	e := gwStart(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("access log:\n%s", lines.String())
		}
	})
	return e, lines
}

// accessLines waits for n access log lines and returns them decoded: the
// line is written as ServeHTTP returns, which may be after the client has
// its whole response.
func accessLines(t *testing.T, l *gwLogs, n int) []map[string]any {
	t.Helper()
	var recs []map[string]any
	gwUntil(t, "the access log has its lines", func() bool {
		recs = recs[:0]
		for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
			if line == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("access log line %q is not JSON: %v", line, err)
			}
			recs = append(recs, rec)
		}
		return len(recs) >= n
	})
	if len(recs) != n {
		t.Fatalf("%d access log lines; want %d", len(recs), n)
	}
	return recs
}

// TestAccessLogCompleteResponse: a served request logs every field, the
// target with its query, the body bytes and the worker that served it.
func TestAccessLogCompleteResponse(t *testing.T) {
	e, lines := gwAccess(t, Config{})
	e.addWorker(3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}), nil)
	resp, body, err := e.get("/a/b?q=1&r=x%20y")
	if err != nil || resp.StatusCode != 200 || string(body) != "hello" {
		t.Fatalf("%v %v %q", err, resp, body)
	}
	rec := accessLines(t, lines, 1)[0]
	want := map[string]any{
		"client": "127.0.0.1", "method": "GET", "uri": "/a/b?q=1&r=x%20y", "proto": "HTTP/1.1",
		"status": 200.0, "bytes": 5.0, "worker": 3.0, "pid": float64(gwFakePID(3)), "end": "complete",
		"request_id": resp.Header.Get("X-Request-Id"),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v (%T); want %v", k, rec[k], rec[k], v)
		}
	}
	for _, k := range []string{"duration_s", "ttfb_s"} {
		if d, ok := rec[k].(float64); !ok || d <= 0 || d > gwWait.Seconds() {
			t.Errorf("%s = %v; want a positive duration", k, rec[k])
		}
	}
	// The wait for a worker is part of the time to the response head.
	if q, ok := rec["queue_s"].(float64); !ok || q < 0 || q > rec["ttfb_s"].(float64) {
		t.Errorf("queue_s = %v; want a duration within ttfb_s %v", rec["queue_s"], rec["ttfb_s"])
	}
	if ts, err := time.Parse(time.RFC3339, rec["time"].(string)); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("time %v: %v", rec["time"], err)
	}
}

// TestAccessLogQueueWait: a request that found the worker's only slot taken
// logs the wait for it in queue_s; one that found it free logs less.
func TestAccessLogQueueWait(t *testing.T) {
	e, lines := gwAccess(t, Config{MaxInFlight: 1, QueueTimeout: gwWait})
	h := gwNewHold()
	e.addWorker(0, h, &child.Config{MaxInFlight: 1})
	first := e.getAsync("/first")
	gwRecv(t, h.started, "the first request")
	second := e.getAsync("/second")
	gwUntil(t, "the second request waits for the slot", func() bool { return e.g.pool.queued.Load() == 1 })
	h.let(t)
	gwRecv(t, first, "the first response")
	gwRecv(t, h.started, "the second request")
	h.let(t)
	gwRecv(t, second, "the second response")
	queued := map[string]float64{}
	for _, rec := range accessLines(t, lines, 2) {
		q, ok := rec["queue_s"].(float64)
		if !ok || q > rec["ttfb_s"].(float64) {
			t.Fatalf("line %v: want queue_s within ttfb_s", rec)
		}
		queued[rec["uri"].(string)] = q
	}
	if queued["/second"] <= 0 || queued["/second"] <= queued["/first"] {
		t.Fatalf("queue_s %v; want the second request's wait for the slot, above the first's", queued)
	}
}

// TestAccessLogEndings: each way an exchange can end is logged as such.
func TestAccessLogEndings(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		e, lines := gwAccess(t, Config{QueueTimeout: time.Millisecond})
		resp, _, err := e.get("/none")
		if err != nil || resp.StatusCode != 503 {
			t.Fatalf("%v %v", err, resp)
		}
		if rec := accessLines(t, lines, 1)[0]; rec["end"] != "refused" || rec["status"] != 503.0 || rec["worker"] != nil {
			t.Errorf("line %v; want end=refused, status 503, no worker", rec)
		}
	})
	t.Run("worker_lost", func(t *testing.T) {
		e, lines := gwAccess(t, Config{})
		e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "short")
		}), nil)
		if _, _, err := e.get("/short"); err == nil {
			t.Fatal("a short response read whole")
		}
		if rec := accessLines(t, lines, 1)[0]; rec["end"] != "worker_lost" || rec["status"] != 200.0 || rec["bytes"] != 5.0 {
			t.Errorf("line %v; want end=worker_lost after 5 bytes of a 200", rec)
		}
	})
	t.Run("client_gone", func(t *testing.T) {
		e, lines := gwAccess(t, Config{})
		h := gwNewHold()
		e.addWorker(0, h, nil)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := e.client.Do(gwRequest(t, "GET", e.url("/slow"), nil).WithContext(ctx))
			errc <- err
		}()
		gwRecv(t, h.started, "the handler")
		cancel()
		if err := gwRecv(t, errc, "the client's end"); !errors.Is(err, context.Canceled) {
			t.Fatalf("client: %v", err)
		}
		if rec := accessLines(t, lines, 1)[0]; rec["end"] != "client_gone" || rec["status"] != 499.0 {
			t.Errorf("line %v; want end=client_gone with nginx's 499", rec)
		}
	})
	t.Run("cut_by_drain", func(t *testing.T) {
		e, lines := gwAccess(t, Config{})
		started := make(chan struct{})
		e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Endless, until the cut fails its writes.
			chunk := make([]byte, 1<<10)
			for i := 0; ; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				if i == 0 {
					close(started)
				}
			}
		}), nil)
		resp, err := e.client.Get(e.url("/long"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		gwRecv(t, started, "the response to start")
		// As sluice serve drains: the server's shutdown begins, and at the
		// drain timeout it closes the connections still open.
		e.g.ShutdownStarted()
		e.srv.CloseClientConnections()
		if body, err := io.ReadAll(resp.Body); err == nil {
			t.Fatalf("a response cut by the drain read whole: %d bytes", len(body))
		}
		if rec := accessLines(t, lines, 1)[0]; rec["end"] != "cut_by_drain" || rec["status"] != 200.0 {
			t.Errorf("line %v; want end=cut_by_drain", rec)
		}
	})
}

// TestAccessLogText: the text format is one logfmt line, quoting what
// needs it.
func TestAccessLogText(t *testing.T) {
	l := newAccessLog(io.Discard, AccessLogText)
	r := httptest.NewRequest("GET", "/p", nil)
	r.RequestURI = `/p?a="b c"`
	r.RemoteAddr = "192.0.2.7:5555"
	rec := &record{status: 200, sent: 42, ttfb: time.Millisecond, queued: 250 * time.Microsecond, worker: 1, pid: 99, reqID: "abc"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	got := string(l.encode(nil, r, rec, at.Add(-2*time.Millisecond), at))
	want := `time=2026-01-02T03:04:05.006Z client=192.0.2.7 method=GET uri="/p?a=\"b c\"" proto=HTTP/1.1 status=200 bytes=42 duration_s=0.002000 ttfb_s=0.001000 queue_s=0.000250 worker=1 pid=99 request_id=abc end=complete` + "\n"
	if got != want {
		t.Fatalf("line\n%s want\n%s", got, want)
	}
}

// TestAccessLogJSONEscapes: a target with quotes, control bytes and
// invalid UTF-8 still makes a valid JSON line that keeps what is valid.
func TestAccessLogJSONEscapes(t *testing.T) {
	l := newAccessLog(io.Discard, AccessLogJSON)
	r := httptest.NewRequest("GET", "/x", nil)
	r.RequestURI = "/\"q\\\x01é\xff"
	line := l.encode(nil, r, &record{status: 200}, time.Now(), time.Now())
	var rec map[string]any
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if rec["uri"] != "/\"q\\\x01é\uFFFD" {
		t.Fatalf("uri %q", rec["uri"])
	}
}

// TestAccessLogZeroAllocs: a line costs no allocation once the buffer pool
// is warm, in either format.
func TestAccessLogZeroAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are checked in full runs without -race")
	}
	r := httptest.NewRequest("GET", "/payload?size=4096", nil)
	rec := &record{status: 200, sent: 4096, ttfb: time.Millisecond, worker: 1, pid: 1234, reqID: newRequestID()}
	for _, format := range []string{AccessLogText, AccessLogJSON} {
		l := newAccessLog(io.Discard, format)
		arrived := time.Now()
		if n := testing.AllocsPerRun(100, func() { l.write(r, rec, arrived) }); n != 0 {
			t.Errorf("%s: %v allocations per line; want 0", format, n)
		}
	}
}
