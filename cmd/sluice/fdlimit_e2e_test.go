//go:build linux

package main

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fdFlood is how many connections TestEndToEndDescriptorLimitFlood opens:
// more than the gateway's 1,024 descriptors could hold.
const fdFlood = 1500

// TestEndToEndDescriptorLimitFlood runs sluice serve under
// prlimit --nofile=1024 and opens 1,500 connections to its front that send
// nothing, as a descriptor-exhaustion attack does. While they are open,
// the admin /healthz and a request from a normal client are answered, and
// a worker SIGKILLed is replaced (its socketpair and pipes need
// descriptors the flood must not have taken).
func TestEndToEndDescriptorLimitFlood(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < fdFlood+200 {
		// The Go runtime raised the soft limit to the hard one already.
		t.Skipf("the test's own descriptor limit %d is too low for %d connections", lim.Cur, fdFlood)
	}
	g := launchGatewayUnder(t, []string{"prlimit", "--nofile=1024:1024"}, nil, "--workers", "2")
	g.waitWorkersUp(2)
	before := g.status().Workers[0]
	front := strings.TrimPrefix(g.addr, "http://")

	var mu sync.Mutex
	var flood []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range flood {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	var refused int
	for range 10 { // dialers, owned by this test: each ends after its share
		wg.Go(func() {
			for range fdFlood / 10 {
				c, err := net.DialTimeout("tcp", front, 5*time.Second)
				mu.Lock()
				if err != nil {
					refused++
				} else {
					flood = append(flood, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("flood: %d connections open, %d not (a full backlog)", len(flood), refused)

	// Each bounded so that a starved gateway fails the test rather than
	// hang it; success is what is asserted, not how fast it came.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	fetch := func(url, want string) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s under the flood: %v", url, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(body), want) {
			t.Fatalf("GET %s under the flood: %d %q %v; want 200 %q", url, resp.StatusCode, body, err, want)
		}
	}
	fetch(g.admin+"/healthz", "ok")
	fetch(g.addr+"/payload?size=1KiB", "")

	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := g.status()
		if w := st.Workers[0]; w.State == "up" && w.PID != before.PID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker 0 not replaced 15 s after its SIGKILL under the flood: %+v", st.Workers[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	fetch(g.addr+"/payload?size=1KiB", "")
	if logs := g.logs.String(); strings.Contains(logs, "too many open files") {
		t.Errorf("the gateway ran out of descriptors:\n%s", logs)
	}
}
