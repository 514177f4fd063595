package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAbortedResponseFreesItsSlot: a client that goes away mid-download
// gives its worker slot back; with one slot, the next request is served,
// not refused.
func TestAbortedResponseFreesItsSlot(t *testing.T) {
	g := startGateway(t, 1, "--max-inflight", "1", "--queue-timeout", "5s")
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", g.addr+"/payload?size=8GiB", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(resp.Body, make([]byte, 1<<20))
		cancel()
		resp.Body.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for g.status().Open != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slots still held 10s after three clients went away: %+v", g.status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := fetch(g.addr + "/payload?size=1MiB"); err != nil {
		t.Fatalf("after aborted downloads: %v", err)
	}
}

// TestEarlyAnswerToAnUploadCompletes: a worker that answers without reading
// the request body (here 405 to a POST) must not leave the response waiting
// for a client that keeps its upload open.
func TestEarlyAnswerToAnUploadCompletes(t *testing.T) {
	g := startGateway(t, 1)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, 64<<10)) // some body, then the upload stalls
	req, _ := http.NewRequest("POST", g.addr+"/payload?size=1KiB", pr)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("status %d; want 405", resp.StatusCode)
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("early answer: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the 405 never completed while the upload stayed open")
	}
	if open := g.status().Open; open != 0 {
		t.Fatalf("%d slots held after the early answer", open)
	}
}

// TestSmallPOSTsSurviveRollingRestart: a request with a small body is held
// by the gateway, so one refused by a draining worker is retried elsewhere;
// a SIGHUP under POST load fails none.
func TestSmallPOSTsSurviveRollingRestart(t *testing.T) {
	g := startGateway(t, 2)
	post := func() error {
		// The demo answers 405 to a POST after its body arrived: a
		// complete answer from a worker is what counts here.
		resp, err := http.Post(g.addr+"/payload?size=1KiB&cpu=20ms", "application/octet-stream", strings.NewReader(strings.Repeat("b", 4096)))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusMethodNotAllowed {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	stop := make(chan struct{})
	results, wg := loadWith(post, 4, stop)
	time.Sleep(300 * time.Millisecond)
	g.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(g.logs.String(), "rolling restart done") {
		if time.Now().After(deadline) {
			t.Fatal("rolling restart not done in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	ok, errs := results()
	t.Logf("SIGHUP under POST load: %d complete, %d failed", ok, len(errs))
	if len(errs) > 0 {
		t.Fatalf("%d POSTs failed during the rolling restart: %v", len(errs), errs[0])
	}
}
