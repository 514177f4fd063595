package parent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/ipc"
)

// gwTagged is a gwHold that names its worker in a response header.
func gwTagged(id int, h *gwHold) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker", fmt.Sprint(id))
		h.ServeHTTP(w, r)
	})
}

// TestGatewayRoutesToWorkerWithMostSpareSlots: each request goes to the
// worker with the most free slots (the first one on a tie), so two workers
// take turns; every response comes back whole from the worker that ran it.
func TestGatewayRoutesToWorkerWithMostSpareSlots(t *testing.T) {
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 2})
	holds := []*gwHold{gwNewHold(), gwNewHold()}
	for id, h := range holds {
		e.addWorker(id, gwTagged(id, h), &child.Config{MaxInFlight: 2})
	}
	var results []<-chan gwResult
	var order []int
	for i := 0; i < 4; i++ {
		results = append(results, e.getAsync(fmt.Sprintf("/r%d", i)))
		// The request is routed once its handler runs on one of them.
		select {
		case <-holds[0].started:
			order = append(order, 0)
		case <-holds[1].started:
			order = append(order, 1)
		case <-time.After(gwWait):
			t.Fatalf("request %d never started", i)
		}
	}
	if want := []int{0, 1, 0, 1}; !slices.Equal(order, want) {
		t.Fatalf("requests went to workers %v; want %v (most spare slots, first on a tie)", order, want)
	}
	if open := e.gwOpen(); open != 4 {
		t.Fatalf("%d streams open; want 4", open)
	}
	for i, id := range order {
		holds[id].let(t)
		r := gwRecv(t, results[i], "a response")
		if r.err != nil || r.resp.StatusCode != 200 || string(r.body) != "released\n" || r.resp.Header.Get("X-Worker") != fmt.Sprint(id) {
			t.Fatalf("request %d: %v %v %q", i, r.err, r.resp, r.body)
		}
	}
	if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "200"}); got != 4 {
		t.Fatalf("sluice_http_requests_total{code=200} = %v; want 4", got)
	}
	gwUntil(t, "every slot is released", func() bool { return e.gwOpen() == 0 })
}

// TestGatewayInFlightLimit: with MaxInFlight 1 a second request waits in the
// gateway (it never reaches the worker) until the first is done.
func TestGatewayInFlightLimit(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: gwWait})
	h := gwNewHold()
	// The worker would run two at once: the limit is the gateway's.
	e.addWorker(0, h, &child.Config{MaxInFlight: 4})
	first := e.getAsync("/first")
	gwRecv(t, h.started, "the first request")
	second := e.getAsync("/second")
	gwUntil(t, "the second request waits", func() bool { return e.gwWaiting() == 1 })
	select {
	case p := <-h.started:
		t.Fatalf("%s started while the only slot was taken", p)
	default:
	}
	if st := e.g.Status(); st.Open != 1 || st.Waiting != 1 {
		t.Fatalf("status open=%d waiting=%d; want 1 and 1", st.Open, st.Waiting)
	}
	h.let(t)
	if r := gwRecv(t, first, "the first response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("first: %v %v", r.err, r.resp)
	}
	if p := gwRecv(t, h.started, "the second request"); p != "/second" {
		t.Fatalf("started %s; want /second", p)
	}
	h.let(t)
	if r := gwRecv(t, second, "the second response"); r.err != nil || r.resp.StatusCode != 200 || string(r.body) != "released\n" {
		t.Fatalf("second: %v %v %q", r.err, r.resp, r.body)
	}
	if got := gwMetric(t, e.g, "sluice_http_refused_total", nil); got != 0 {
		t.Fatalf("%v refusals; want none", got)
	}
}

// TestGatewayQueueTimeout503: a request that finds no slot within the queue
// timeout is answered 503 with Retry-After (rounded up to seconds) and a
// message saying why; its connection stays open, unless the request had a
// body, which is not read.
func TestGatewayQueueTimeout503(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: 50 * time.Millisecond, RetryAfter: 1500 * time.Millisecond})
	h := gwNewHold()
	e.addWorker(0, h, nil)
	busy := e.getAsync("/busy")
	gwRecv(t, h.started, "the busy request")

	start := time.Now()
	resp, body, err := e.get("/late")
	waited := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	want := "sluice: no worker had room within the queue timeout (0 workers, 1 requests in flight, 0 waiting); retry in 2 s\n\n"
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" || resp.Close || string(body) != want {
		t.Fatalf("got %d Retry-After=%q close=%v %q; want 503, Retry-After 2, kept open, %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, body, want)
	}
	if waited < 50*time.Millisecond {
		t.Fatalf("refused after %v; want after the 50ms queue timeout", waited)
	}
	// A body small enough to hold for a retry was read: the connection
	// stays. A larger one was not: it closes.
	for _, c := range []struct {
		size  int
		close bool
	}{{100, false}, {maxRetryBody + 1, true}} {
		req, err := http.NewRequest("POST", e.url("/upload"), strings.NewReader(strings.Repeat("b", c.size)))
		if err != nil {
			t.Fatal(err)
		}
		if resp, _, err := e.do(req); err != nil || resp.StatusCode != 503 || resp.Close != c.close {
			t.Fatalf("POST of %d bytes: %v, %v; want 503, close %v", c.size, err, resp, c.close)
		}
	}
	if got := gwMetric(t, e.g, "sluice_http_refused_total", map[string]string{"reason": "queue_timeout"}); got != 3 {
		t.Fatalf("refused{queue_timeout} = %v; want 3", got)
	}
	if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "503"}); got != 3 {
		t.Fatalf("requests{503} = %v; want 3", got)
	}
	if e.gwWaiting() != 0 {
		t.Fatal("the refused request still waits")
	}
	h.let(t)
	if r := gwRecv(t, busy, "the busy response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("busy: %v %v", r.err, r.resp)
	}
}

// TestGatewayQueueFull503AtOnce: with MaxQueue requests already waiting, the
// next is refused at once, long before the queue timeout; the waiting one is
// still served.
func TestGatewayQueueFull503AtOnce(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, MaxQueue: 1, QueueTimeout: time.Hour})
	h := gwNewHold()
	e.addWorker(0, h, nil)
	first := e.getAsync("/first")
	gwRecv(t, h.started, "the first request")
	second := e.getAsync("/second")
	gwUntil(t, "the second request waits", func() bool { return e.gwWaiting() == 1 })

	resp, body, err := e.get("/third")
	if err != nil {
		t.Fatal(err)
	}
	// Retry-After follows the drain rate measured so far (one grant, so
	// about a second, more as the rate decays on a slow machine); its
	// derivation is tested in overload_test.go.
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	want := fmt.Sprintf("sluice: too many requests are already waiting for a worker (0 workers, 1 requests in flight, 1 waiting); retry in %d s\n\n", ra)
	if resp.StatusCode != 503 || err != nil || ra < 1 || ra > 60 || string(body) != want {
		t.Fatalf("got %d Retry-After=%q %q; want 503 %q", resp.StatusCode, resp.Header.Get("Retry-After"), body, want)
	}
	if got := gwMetric(t, e.g, "sluice_http_refused_total", map[string]string{"reason": "queue_full"}); got != 1 {
		t.Fatalf("refused{queue_full} = %v; want 1", got)
	}
	for i, ch := range []<-chan gwResult{first, second} {
		h.let(t)
		if r := gwRecv(t, ch, "a response"); r.err != nil || r.resp.StatusCode != 200 {
			t.Fatalf("request %d: %v %v", i, r.err, r.resp)
		}
	}
}

// TestGatewayNoWorker503: without any worker a request waits out the queue
// timeout and is told that no worker runs.
func TestGatewayNoWorker503(t *testing.T) {
	e := gwStart(t, Config{QueueTimeout: 20 * time.Millisecond})
	resp, body, err := e.get("/x")
	if err != nil {
		t.Fatal(err)
	}
	want := "sluice: no worker is running (0 workers, 0 requests in flight, 0 waiting); retry in 1 s\n\n"
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || string(body) != want {
		t.Fatalf("got %d %q; want 503 %q", resp.StatusCode, body, want)
	}
	if got := gwMetric(t, e.g, "sluice_http_refused_total", map[string]string{"reason": "no_worker"}); got != 1 {
		t.Fatalf("refused{no_worker} = %v; want 1", got)
	}
}

// TestGatewayRefusalLogIsRateLimited: a burst of refusals is counted in
// full but logged once per reason and interval; the next line says how many
// were held back.
func TestGatewayRefusalLogIsRateLimited(t *testing.T) {
	e := gwStart(t, Config{})
	// An interval no burst outlasts, however slow the machine.
	e.g.refusals = newRateLog(e.g.log, time.Hour)
	e.g.pool.setDraining()
	for i := 0; i < 5; i++ {
		resp, body, err := e.get("/x")
		if err != nil || resp.StatusCode != 503 || !strings.HasPrefix(string(body), "sluice: the gateway is draining (") {
			t.Fatalf("refusal %d: %v %v %q", i, err, resp, body)
		}
	}
	if got := gwMetric(t, e.g, "sluice_http_refused_total", map[string]string{"reason": "draining"}); got != 5 {
		t.Fatalf("refused{draining} = %v; want 5", got)
	}
	recs := e.logs.records("request refused with 503")
	if len(recs) != 1 || recs[0]["reason"] != "draining" || recs[0]["suppressed_since_last"] != 0.0 {
		t.Fatalf("log lines for 5 refusals: %v; want one, with reason draining and none suppressed", recs)
	}
	// The interval is over.
	r := e.g.refusals
	r.mu.Lock()
	r.keys["draining"].last = time.Time{}
	r.mu.Unlock()
	if resp, _, err := e.get("/x"); err != nil || resp.StatusCode != 503 {
		t.Fatal(err, resp)
	}
	recs = e.logs.records("request refused with 503")
	if len(recs) != 2 || recs[1]["suppressed_since_last"] != 4.0 {
		t.Fatalf("log lines after the interval: %v; want a second one reporting 4 suppressed", recs)
	}
}

// TestGatewayWaiterGivesUpWhenClientLeaves: a request waiting for a slot
// whose client goes away leaves the queue and counts no refusal.
func TestGatewayWaiterGivesUpWhenClientLeaves(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: time.Hour})
	h := gwNewHold()
	e.addWorker(0, h, nil)
	first := e.getAsync("/first")
	gwRecv(t, h.started, "the first request")

	ctx, cancel := context.WithCancel(context.Background())
	req := gwRequest(t, "GET", e.url("/gone"), nil).WithContext(ctx)
	errc := make(chan error, 1)
	go func() {
		resp, err := e.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	gwUntil(t, "the second request waits", func() bool { return e.gwWaiting() == 1 })
	cancel()
	if err := gwRecv(t, errc, "the cancelled request"); err == nil {
		t.Fatal("the cancelled request got a response")
	}
	gwUntil(t, "the waiter leaves the queue", func() bool { return e.gwWaiting() == 0 })
	h.let(t)
	if r := gwRecv(t, first, "the first response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("first: %v %v", r.err, r.resp)
	}
	// The slot the waiter would have had is free: the next request runs.
	next := e.getAsync("/next")
	if p := gwRecv(t, h.started, "the next request"); p != "/next" {
		t.Fatalf("started %s; want /next", p)
	}
	h.let(t)
	if r := gwRecv(t, next, "the next response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("next: %v %v", r.err, r.resp)
	}
	if got := gwMetric(t, e.g, "sluice_http_refused_total", nil); got != 0 {
		t.Fatalf("%v refusals counted for a client that left; want 0", got)
	}
}

// TestGatewayShutdownDrains: after Shutdown an in-flight response completes
// and new requests are refused with 503.
func TestGatewayShutdownDrains(t *testing.T) {
	e := gwStart(t, Config{})
	payload := strings.Repeat("drain ", 100000)
	h := gwNewHold()
	h.body = payload
	e.addWorker(0, h, nil)
	inflight := e.getAsync("/inflight")
	gwRecv(t, h.started, "the in-flight request")

	ctx, cancel := context.WithTimeout(context.Background(), gwWait)
	defer cancel()
	if err := e.g.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if e.g.Ready() || !e.g.Status().Draining {
		t.Fatal("Ready, or not draining, after Shutdown")
	}
	resp, body, err := e.get("/new")
	if err != nil || resp.StatusCode != 503 || !strings.HasPrefix(string(body), "sluice: the gateway is draining (0 workers, 1 requests in flight, 0 waiting)") {
		t.Fatalf("request after Shutdown: %v %v %q; want 503 draining", err, resp, body)
	}
	h.let(t)
	r := gwRecv(t, inflight, "the in-flight response")
	if r.err != nil || r.resp.StatusCode != 200 || string(r.body) != payload {
		t.Fatalf("in-flight response during the drain: %v %v, %d bytes of %d", r.err, r.resp, len(r.body), len(payload))
	}
	if got := gwRecv(t, h.ended, "the handler's end"); got != nil {
		t.Fatalf("handler ended with %v", got)
	}
}

// TestGatewayRetryWaiterDoesNotBlockOthers: a retry waits for a worker
// other than the one that refused it; a slot freed on that worker goes to
// the next request in line instead of waiting behind it.
func TestGatewayRetryWaiterDoesNotBlockOthers(t *testing.T) {
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 1, QueueTimeout: gwWait})
	h := gwNewHold()
	e.addWorker(1, gwTagged(1, h), nil)
	h1 := e.getAsync("/h1")
	gwRecv(t, h.started, "/h1 on worker 1")
	raw := e.addRawWorker(0)

	r := e.getAsync("/r")
	st := raw.accept(t)
	if p := st.Head().Get(":path"); p != "/r" {
		t.Fatalf("worker 0 got %s; want /r", p)
	}
	st.Reset(ipc.CodeRefused)
	gwUntil(t, "/r waits for a worker other than 0", func() bool { return e.gwWaiting() == 1 })

	h2 := e.getAsync("/h2") // worker 0 has room: no wait
	st2 := raw.accept(t)
	if p := st2.Head().Get(":path"); p != "/h2" {
		t.Fatalf("worker 0 got %s; want /h2", p)
	}
	r3 := e.getAsync("/r3")
	gwUntil(t, "/r3 waits behind /r", func() bool { return e.gwWaiting() == 2 })

	// Worker 0's slot frees: /r may not have it, /r3 behind it may.
	st2.WriteHead(ipc.Fields{{Name: ":status", Value: "200"}}, true)
	if res := gwRecv(t, h2, "/h2"); res.err != nil || res.resp.StatusCode != 200 {
		t.Fatalf("/h2: %v %v", res.err, res.resp)
	}
	st3 := raw.accept(t)
	if p := st3.Head().Get(":path"); p != "/r3" {
		t.Fatalf("worker 0 got %s; want /r3", p)
	}
	st3.WriteHead(ipc.Fields{{Name: ":status", Value: "202"}}, true)
	if res := gwRecv(t, r3, "/r3"); res.err != nil || res.resp.StatusCode != 202 {
		t.Fatalf("/r3: %v %v", res.err, res.resp)
	}
	if w := e.gwWaiting(); w != 1 {
		t.Fatalf("%d waiting; want /r still waiting", w)
	}

	h.let(t)
	if res := gwRecv(t, h1, "/h1"); res.err != nil || res.resp.StatusCode != 200 {
		t.Fatalf("/h1: %v %v", res.err, res.resp)
	}
	if p := gwRecv(t, h.started, "/r on worker 1"); p != "/r" {
		t.Fatalf("worker 1 started %s; want /r", p)
	}
	h.let(t)
	if res := gwRecv(t, r, "/r"); res.err != nil || res.resp.StatusCode != 200 || res.resp.Header.Get("X-Worker") != "1" {
		t.Fatalf("/r: %v %v", res.err, res.resp)
	}
}

// TestGatewayHEAD: a HEAD request gets the worker's head, Content-Length
// included, and no body.
func TestGatewayHEAD(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, gwDemo(), nil)
	resp, body, err := e.do(gwRequest(t, "HEAD", e.url("/payload?size=1MiB"), nil))
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 1<<20 || len(body) != 0 {
		t.Fatalf("HEAD: %v %v, %d bytes of body", err, resp, len(body))
	}
}

// TestNewRejectsBadConfig: New names the bad field, its value and what is
// accepted, and builds nothing.
func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		msg string
	}{
		{Config{Workers: -1}, "parent: Workers -1 is out of range; use 0 (one per CPU) or 1..1024"},
		{Config{Workers: 1025}, "parent: Workers 1025 is out of range; use 0 (one per CPU) or 1..1024"},
		{Config{MaxInFlight: -1}, "parent: MaxInFlight -1 is out of range; use 0 (automatic) or a hard cap of 1.."},
		{Config{QueueTimeout: -time.Second}, "parent: QueueTimeout -1s is negative; use 0 (default 30s) or a duration"},
		{Config{MaxQueue: -1}, "parent: MaxQueue -1 is negative; use 0 (default 1024) or a count"},
		{Config{KillGrace: -1}, "parent: durations (RetryAfter, MaxRetryAfter, RestartDelay, MaxRestartDelay, StopTimeout, HeartbeatInterval, LivenessWindow, KillGrace, RetireTimeout) must not be negative"},
		{Config{MaxRSS: -1}, "parent: MaxRequests 0 and MaxRSS -1 must not be negative; 0 means no limit"},
		{Config{HeartbeatInterval: time.Second, LivenessWindow: 1500 * time.Millisecond}, "parent: LivenessWindow 1.5s is less than two HeartbeatIntervals (1s): one late pong would kill a healthy worker"},
	} {
		g, err := New(tc.cfg)
		// The upper bound of MaxInFlight is another package's constant.
		if err == nil || !(err.Error() == tc.msg || strings.HasSuffix(tc.msg, "..") && strings.HasPrefix(err.Error(), tc.msg)) || g != nil {
			t.Errorf("New(%+v) = %v, %v; want error %q", tc.cfg, g, err, tc.msg)
		}
	}
	if _, err := New(Config{Workers: 1, IPC: &ipc.Config{StreamWindow: 1}}); err == nil {
		t.Error("New accepted a bad IPC config")
	}
}

// TestGatewayDefaultsAndStreamWindow: zero fields take the documented
// defaults, and the configured stream window is what the metric reports.
func TestGatewayDefaultsAndStreamWindow(t *testing.T) {
	g, err := New(Config{Workers: 1, WorkerMemoryLimit: -1, IPC: &ipc.Config{StreamWindow: 1 << 20}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c := g.cfg
	if c.MaxInFlight != DefaultMaxInFlight || c.QueueTimeout != DefaultQueueTimeout || c.MaxQueue != DefaultMaxQueue || c.RetryAfter != DefaultRetryAfter ||
		c.SendBuffer != DefaultSendBuffer || c.HeartbeatInterval != DefaultHeartbeat || c.LivenessWindow != DefaultLivenessWindow || c.RetireTimeout != DefaultRetireTimeout {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if g.maxInFlight() != DefaultMaxInFlight || g.queueTimeout() != DefaultQueueTimeout {
		t.Fatal("the gateway's live settings differ from its configuration")
	}
	if got := gwMetric(t, g, "sluice_gateway_stream_window_bytes", nil); got != 1<<20 {
		t.Fatalf("stream window metric %v; want %d", got, 1<<20)
	}
}

// TestGatewayRemovedWorkerGetsNoRequests: a worker the supervisor took out
// of the pool (dead, or replaced) is not routed to, and its requests go to
// the others.
func TestGatewayRemovedWorkerGetsNoRequests(t *testing.T) {
	e := gwStart(t, Config{Workers: 2})
	var calls0, calls1 atomic.Int32
	w0 := e.addWorker(0, gwCount(0, &calls0), nil)
	e.addWorker(1, gwCount(1, &calls1), nil)
	e.g.pool.remove(w0.b)
	for i := 0; i < 3; i++ {
		resp, _, err := e.get("/")
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Worker") != "1" {
			t.Fatalf("request %d: %v %v", i, err, resp)
		}
	}
	if calls0.Load() != 0 || calls1.Load() != 3 {
		t.Fatalf("worker 0 ran %d, worker 1 %d; want 0 and 3", calls0.Load(), calls1.Load())
	}
	if ids := e.g.pool.ids(); !slices.Equal(ids, []int{1}) {
		t.Fatalf("pool ids %v; want [1]", ids)
	}
}

// gwCount counts its requests and names its worker.
func gwCount(id int, n *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("X-Worker", fmt.Sprint(id))
	})
}
