package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestWorkerTimeoutFlags: --worker-header-timeout and --worker-idle-timeout
// reach the gateway. A demo request whose handler sleeps past the header
// timeout gets 504, and one whose export pauses between rows past the idle
// timeout is cut after its first row, never complete; each is counted and
// its worker replaced (the other one serves meanwhile).
func TestWorkerTimeoutFlags(t *testing.T) {
	g := startGateway(t, 2, "--worker-header-timeout", "1s", "--worker-idle-timeout", "1s")
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get(g.addr + "/payload?size=10&wait=10s")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "worker header timeout (1s)") {
		t.Fatalf("a handler sleeping past the header timeout: %d %q; want 504 naming the timeout", resp.StatusCode, body)
	}
	if !g.waitMetric("sluice_worker_timeouts_total", 1, 20*time.Second) {
		t.Fatal("the header timeout was not counted")
	}

	resp, err = client.Get(g.addr + "/export?rows=3&pace=10s")
	if err != nil {
		t.Fatal(err)
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || rerr == nil {
		t.Fatalf("an export pausing past the idle timeout: %d, %d bytes, then %v; want 200 then a cut", resp.StatusCode, len(body), rerr)
	}
	if !g.waitMetric("sluice_worker_timeouts_total", 2, 20*time.Second) {
		t.Fatal("the idle timeout was not counted")
	}
	g.waitLog(t, `"reason":"stalled"`)
	g.waitWorkersUp(2)
}
