package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"
)

// serveDirect runs the demo handler on req without a network, so that it
// can run inside a synctest bubble, and returns when the handler returns.
func serveDirect(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	New("").ServeHTTP(rec, req)
	return rec
}

func TestPayloadWaitDelaysTheBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		rec := serveDirect(httptest.NewRequest("GET", "/payload?size=4096&wait=200ms&seed=5", nil))
		if took := time.Since(start); took != 200*time.Millisecond {
			t.Errorf("the response took %v of the bubble's clock; want exactly the 200ms wait", took)
		}
		if rec.Code != 200 || rec.Body.Len() != 4096 {
			t.Fatalf("status %d, %d body bytes; want 200 and 4096", rec.Code, rec.Body.Len())
		}
		if want := readAll(t, Payload(5, 4096)); rec.Body.String() != string(want) {
			t.Error("the body after a wait differs from Payload(5, 4096)")
		}
	})
}

// A client that goes away ends the wait at once: the handler must not hold
// its admission slot for the rest of it.
func TestPayloadWaitEndsWhenClientLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		req := httptest.NewRequestWithContext(ctx, "GET", "/payload?size=1GiB&wait=10m", nil)
		done := make(chan *httptest.ResponseRecorder)
		start := time.Now()
		go func() { done <- serveDirect(req) }()
		synctest.Wait() // the handler is parked in its wait
		select {
		case <-done:
			t.Fatal("the handler returned before its wait was over or its client left")
		default:
		}
		cancel()
		rec := <-done
		if took := time.Since(start); took != 0 {
			t.Errorf("the handler returned %v after the start; want at once on cancel", took)
		}
		if rec.Body.Len() > 1<<10 {
			t.Errorf("the handler wrote %d bytes for a client that left during the wait", rec.Body.Len())
		}
	})
}

// The wait is a sleep, not a spin: it costs (almost) no CPU.
func TestPayloadWaitUsesNoCPU(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()
	before := processCPU(t)
	start := time.Now()
	resp, _ := get(t, "GET", srv.URL+"/payload?size=10&wait=300ms")
	took, spent := time.Since(start), processCPU(t)-before
	if resp.StatusCode != 200 || took < 300*time.Millisecond {
		t.Fatalf("status %d after %v; want 200 after at least 300ms", resp.StatusCode, took)
	}
	if spent > 100*time.Millisecond {
		t.Errorf("the process spent %v of CPU during a 300ms wait; want next to none", spent)
	}
}
