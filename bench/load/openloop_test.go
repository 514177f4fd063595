package load

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// concurrency counts the requests a handler is serving at once and keeps
// the most seen.
type concurrency struct {
	mu        sync.Mutex
	now, most int
}

func (c *concurrency) enter() {
	c.mu.Lock()
	c.now++
	c.most = max(c.most, c.now)
	c.mu.Unlock()
}

func (c *concurrency) leave() {
	c.mu.Lock()
	c.now--
	c.mu.Unlock()
}

func (c *concurrency) max() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.most
}

// slowServer answers every request after sleeping d, counting how many it
// serves at once.
func slowServer(t *testing.T, d time.Duration) (*httptest.Server, *concurrency) {
	var c concurrency
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.enter()
		defer c.leave()
		time.Sleep(d)
		w.Write([]byte("done"))
	}))
	t.Cleanup(srv.Close)
	return srv, &c
}

// A slow server does not slow an open loop down: at 50/s for 1 s, every one
// of the 50 requests is started on its own schedule, so about 10 are in the
// 200 ms handler at once, where a closed loop of one would have 1.
func TestOpenLoopStartsOnSchedule(t *testing.T) {
	srv, conc := slowServer(t, 200*time.Millisecond)
	rep := run(t, Config{URL: srv.URL, Rate: 50, Duration: time.Second})
	if s := rep.Summary; s.Requests != 50 || s.Errors != 0 || s.Statuses[200] != 50 {
		t.Fatalf("summary %+v; want 50 requests (50/s × 1 s), all 200", s)
	}
	for i, r := range rep.Results {
		if want := time.Duration(i) * 20 * time.Millisecond; r.Index != i || r.Start != want {
			t.Fatalf("result %d: index %d, start %v; want start %v, its schedule", i, r.Index, r.Start, want)
		}
		// Measured from the schedule, the time includes the generator's
		// own lag, and can never be less than the handler's sleep.
		if r.Lag < 0 || r.TTLB < 200*time.Millisecond || r.TTLB < r.Lag || r.TTFB > r.TTLB {
			t.Fatalf("result %d: lag %v, TTFB %v, TTLB %v; want TTLB ≥ 200ms and ≥ lag", i, r.Lag, r.TTFB, r.TTLB)
		}
	}
	if m := conc.max(); m < 5 {
		t.Errorf("at most %d requests were in the handler at once; an open loop at 50/s of 200 ms requests keeps about 10", m)
	}
}

// The number scheduled is rate × duration, whatever the server does, and
// Requests can end scheduling first.
func TestOpenLoopCount(t *testing.T) {
	srv := testServer(t)
	rep := run(t, Config{URL: srv.URL + "/empty", Rate: 200, Duration: 250 * time.Millisecond})
	if n := rep.Summary.Requests; n != 50 {
		t.Errorf("%d requests at 200/s for 250ms; want 50", n)
	}
	rep = run(t, Config{URL: srv.URL + "/empty", Rate: 1000, Requests: 7, Duration: time.Minute})
	if n := rep.Summary.Requests; n != 7 {
		t.Errorf("%d requests with Requests 7; want 7", n)
	}
}

// A request due while MaxInFlight are in flight is a failure of the
// generator, not a request started late.
func TestOpenLoopOverloaded(t *testing.T) {
	srv, _ := slowServer(t, time.Second) // much longer than the 90 ms schedule
	rep := run(t, Config{URL: srv.URL, Rate: 100, Requests: 10, MaxInFlight: 2})
	if s := rep.Summary; s.Requests != 10 || s.Errors != 8 || s.Statuses[200] != 2 {
		t.Fatalf("summary %+v; want 10 requests: 2 served, 8 refused by the generator", s)
	}
	for _, r := range rep.Results[2:] {
		if r.Status != 0 || !strings.Contains(r.Err, errOverloaded) {
			t.Fatalf("result %+v; want a %q failure", r, errOverloaded)
		}
	}
}

// Status and Retry-After are recorded for every response, in both loops.
func TestRetryAfterRecorded(t *testing.T) {
	srv := testServer(t)
	for _, cfg := range []Config{
		{URL: srv.URL + "/busy", Rate: 100, Requests: 5},
		{URL: srv.URL + "/busy", Requests: 5, Concurrency: 2},
	} {
		rep := run(t, cfg)
		for _, r := range rep.Results {
			if r.Status != 503 || r.RetryAfter != "1" || r.Err != "" {
				t.Fatalf("rate %v: result %+v; want 503 with Retry-After 1", cfg.Rate, r)
			}
		}
	}
	rep := run(t, Config{URL: srv.URL + "/empty", Rate: 100, Requests: 2})
	if r := rep.Results[0]; r.Status != 200 || r.RetryAfter != "" {
		t.Errorf("result %+v; want 200 without Retry-After", r)
	}
}

// Digests are checked in an open loop as in a closed one.
func TestOpenLoopDigest(t *testing.T) {
	srv := testServer(t)
	rep := run(t, Config{URL: srv.URL + "/digest", Rate: 100, Requests: 4, Digest: true})
	for _, r := range rep.Results {
		if r.Err != "" || r.DigestOK == nil || !*r.DigestOK || r.Bytes != int64(len(fixedBody)) {
			t.Fatalf("result %+v; want a whole body with a verified digest", r)
		}
	}
}

// Cancelling ends scheduling and the requests in flight; the report holds
// what was scheduled before.
func TestOpenLoopCancel(t *testing.T) {
	srv, _ := slowServer(t, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep, err := Run(ctx, Config{URL: srv.URL, Rate: 50, Duration: time.Minute})
	if err == nil || rep == nil {
		t.Fatalf("Run cancelled after 200ms = %v, %v; want a partial report and an error", rep, err)
	}
	if n := len(rep.Results); n == 0 || n > 100 {
		t.Fatalf("Run cancelled after 200ms at 50/s reported %d requests; want a few", n)
	}
}

func TestOpenLoopConfigErrors(t *testing.T) {
	nan := math.NaN()
	for _, cfg := range []Config{
		{URL: "http://127.0.0.1:1/", Rate: -1, Requests: 1},
		{URL: "http://127.0.0.1:1/", Rate: nan, Requests: 1},
		{URL: "http://127.0.0.1:1/", Rate: 10, Requests: 1, MaxInFlight: -1},
		{URL: "http://127.0.0.1:1/", Rate: 10},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded; want a configuration error", cfg)
		}
	}
}
