package parent

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/ipc"
)

// TestStatusReportsWorkersAndQueue: /status shows every slot (up with its
// pid, open streams, the worker's load report and round trip; down with its
// last exit; crash-looping), the gateway's open and waiting requests, and
// the JSON field names operators rely on.
func TestStatusReportsWorkersAndQueue(t *testing.T) {
	e := gwStart(t, Config{Workers: 3, MaxInFlight: 1, QueueTimeout: gwWait})
	h := gwNewHold()
	w := e.addWorker(0, h, &child.Config{MaxInFlight: 3})
	e.addSlot(0, w.b)
	s := e.g.sup
	s.mu.Lock()
	s.slots = append(s.slots,
		&slot{id: 1, restarts: 2, lastExit: "exit status 1", youngDeaths: 1},
		&slot{id: 2, restarts: 5, lastExit: "killed by signal killed", youngDeaths: crashLoopDeaths})
	s.mu.Unlock()

	first := e.getAsync("/a")
	gwRecv(t, h.started, "the first request")
	second := e.getAsync("/b")
	gwUntil(t, "the second request waits", func() bool { return e.gwWaiting() == 1 })
	gwUntil(t, "the worker reports its handler", func() bool { l, _ := w.conn.PeerLoad(); return l.InFlight == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), gwWait)
	defer cancel()
	if _, err := w.conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	resp, body := e.adminDo("GET", "/status", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /status: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Workers) != 3 || st.Open != 1 || st.Waiting != 1 || st.Draining {
		t.Fatalf("status %+v; want 3 workers, 1 open, 1 waiting, not draining", st)
	}
	up := st.Workers[0]
	if up.Uptime == "" || up.RTT == "" || up.LoadAge == "" {
		t.Fatalf("worker 0 without uptime, round trip or load age: %+v", up)
	}
	// The worker measures its signals for real; only their presence is
	// this test's business (TestStatusShowsLoadReport checks the values).
	up.Uptime, up.RTT, up.LoadAge = "", "", ""
	up.PressurePermille, up.SchedLatencyMicros, up.FlushLagMicros = 0, 0, 0
	if want := (WorkerStatus{ID: 0, PID: gwFakePID(0), State: "up", Open: 1, Allowance: 1, InFlight: 1, Computing: 1, Limit: 3}); up != want {
		t.Fatalf("worker 0: %+v\nwant %+v", up, want)
	}
	if want := (WorkerStatus{ID: 1, State: "down", Restarts: 2, LastExit: "exit status 1"}); st.Workers[1] != want {
		t.Fatalf("worker 1: %+v\nwant %+v", st.Workers[1], want)
	}
	if want := (WorkerStatus{ID: 2, State: "crash-loop", Restarts: 5, LastExit: "killed by signal killed"}); st.Workers[2] != want {
		t.Fatalf("worker 2: %+v\nwant %+v", st.Workers[2], want)
	}
	for _, field := range []string{`"workers"`, `"open_streams"`, `"waiting_requests"`, `"draining"`, `"pid"`, `"state"`, `"uptime"`, `"restarts"`, `"last_exit"`, `"inflight"`, `"waiting"`, `"limit"`, `"queued_bytes"`, `"parent_sndbuf_bytes"`, `"last_rtt"`} {
		if !strings.Contains(body, field) {
			t.Fatalf("/status lacks %s:\n%s", field, body)
		}
	}

	for _, ch := range []<-chan gwResult{first, second} {
		h.let(t)
		r := gwRecv(t, ch, "a response")
		if r.err != nil || r.resp.StatusCode != 200 {
			t.Fatalf("%v %v", r.err, r.resp)
		}
	}
	// A worker told to go away is draining until it leaves.
	w.conn.GoAway(ipc.CodeShutdown, "test")
	if got := e.g.Status().Workers[0].State; got != "draining" {
		t.Fatalf("state after go-away %q; want draining", got)
	}
}

// TestReadyz: /readyz is 200 only while a worker is up and the gateway is
// neither saturated nor draining, and says why not otherwise.
func TestReadyz(t *testing.T) {
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 1, MaxQueue: 1, QueueTimeout: gwWait})
	ready := func(code int, msg string) {
		t.Helper()
		resp, body := e.adminDo("GET", "/readyz", "")
		if resp.StatusCode != code || body != msg {
			t.Fatalf("/readyz: %d %q; want %d %q", resp.StatusCode, body, code, msg)
		}
	}
	ready(503, "not ready: no worker is up yet\n")
	if e.g.Ready() {
		t.Fatal("Ready without a worker")
	}

	s := e.g.sup
	s.mu.Lock()
	s.slots = append(s.slots, &slot{id: 1, restarts: 3, youngDeaths: crashLoopDeaths, lastExit: "exit status 2"})
	s.mu.Unlock()
	ready(503, "not ready: no worker is up; 1 crash-looping (see /status last_exit)\n")

	h := gwNewHold()
	w := e.addWorker(0, h, nil)
	e.addSlot(0, w.b)
	ready(200, "ready: 1 of 2 workers up\n")
	if !e.g.Ready() {
		t.Fatal("not Ready with a worker up")
	}

	first := e.getAsync("/a")
	gwRecv(t, h.started, "the first request")
	ready(200, "ready: 1 of 2 workers up\n")
	second := e.getAsync("/b")
	gwUntil(t, "the second request waits", func() bool { return e.gwWaiting() == 1 })
	ready(503, "not ready: saturated: 1 requests waiting, the most allowed\n")
	for _, ch := range []<-chan gwResult{first, second} {
		h.let(t)
		if r := gwRecv(t, ch, "a response"); r.err != nil || r.resp.StatusCode != 200 {
			t.Fatalf("%v %v", r.err, r.resp)
		}
	}
	ready(200, "ready: 1 of 2 workers up\n")

	// Shutdown stops the (stand-in) process of slot 0 too: its pid is
	// beyond any real one, and its connection is closed.
	ctx, cancel := context.WithTimeout(context.Background(), gwWait)
	defer cancel()
	if err := e.g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ready(503, "not ready: draining\n")
	select {
	case <-w.conn.Done():
	case <-time.After(gwWait):
		t.Fatal("Shutdown left the worker's connection open")
	}
}

// TestHealthz: /healthz answers while the process runs, ready or not.
func TestHealthz(t *testing.T) {
	e := gwStart(t, Config{})
	resp, body := e.adminDo("GET", "/healthz", "")
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
}
