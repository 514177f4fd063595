package parent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child/demo"
)

// supHTTP serves e's gateway on a loopback listener; the client and the
// server are closed at cleanup.
func supHTTP(t *testing.T, e *supEnv) (*httptest.Server, *http.Client) {
	srv := httptest.NewUnstartedServer(e.g)
	srv.Config.ErrorLog = gwPanicLog(t)
	srv.EnableHTTP2 = false
	srv.Start()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		srv.Close()
	})
	return srv, client
}

// TestLaunchSocketpairRollingRestartUnderHTTPLoad: over real socketpairs and
// a real HTTP server, a rolling restart under GET and small-POST load fails
// no request: the POSTs' bodies are held by the gateway, so one refused by a
// draining worker is retried elsewhere like a GET.
func TestLaunchSocketpairRollingRestartUnderHTTPLoad(t *testing.T) {
	e := supStart(t, Config{Workers: 2}, &launchFake{socket: true, handler: demo.New("")})
	srv, client := supHTTP(t, e)
	e.waitUp(2)
	get := func() error {
		resp, err := client.Get(srv.URL + "/payload?size=256KiB")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && (resp.StatusCode != 200 || n != 256<<10) {
			err = fmt.Errorf("GET: status %d, %d bytes", resp.StatusCode, n)
		}
		return err
	}
	post := func() error {
		// The demo answers 405 to a POST: a complete answer from a
		// worker is what counts.
		resp, err := client.Post(srv.URL+"/payload?size=1KiB", "application/octet-stream", strings.NewReader(strings.Repeat("b", 4096)))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusMethodNotAllowed {
			return fmt.Errorf("POST: status %d", resp.StatusCode)
		}
		return nil
	}
	var done atomic.Int64
	progress := make(chan struct{}, 1)
	var mu sync.Mutex
	var errs []error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		do := get
		if i%2 == 1 {
			do = post
		}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := do(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				done.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	waitDone := func(n int64) {
		for done.Load() < n {
			<-progress
		}
	}
	waitDone(40)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.g.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(done.Load() + 40)
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed during the rolling restart: %v", len(errs), done.Load(), errs[0])
	}
	for _, ws := range e.g.Status().Workers {
		if ws.LastExit != "rolling restart" || ws.SendBuffer != 0 {
			t.Fatalf("after Restart: %+v", ws)
		}
	}
}

// TestLaunchEarlyAnswerToAnUploadCompletes: a worker that answers without
// reading the request body (405 to a large POST) must not leave the
// response waiting for a client that keeps its upload open.
func TestLaunchEarlyAnswerToAnUploadCompletes(t *testing.T) {
	e := supStart(t, Config{Workers: 1}, &launchFake{socket: true, handler: demo.New("")})
	srv, client := supHTTP(t, e)
	e.waitUp(1)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, maxRetryBody+1)) // more than the gateway holds, then the upload stalls
	req, _ := http.NewRequest("POST", srv.URL+"/payload?size=1KiB", pr)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("early answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("early answer: %d %q %v; want a complete 405", resp.StatusCode, body, err)
	}
	// Close waits for the handler: by then its slot must be back.
	srv.Close()
	if open, _ := e.g.pool.counts(); open != 0 {
		t.Fatalf("%d slots held after the early answer", open)
	}
}

// TestLaunchCPUBusyWorkerIsNotKilled: handlers that keep the worker's
// threads spinning for two liveness windows do not keep its connection from
// answering pings: no worker is presumed hung. The window is a whole second
// because this runs on real time, under the race detector, beside other
// test packages: a shorter one would measure the machine, not the worker.
func TestLaunchCPUBusyWorkerIsNotKilled(t *testing.T) {
	e := supStart(t, Config{Workers: 1, MaxInFlight: 2, HeartbeatInterval: 100 * time.Millisecond, LivenessWindow: time.Second},
		&launchFake{socket: true, handler: demo.New("")})
	srv, client := supHTTP(t, e)
	e.waitUp(1)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/payload?size=64KiB&cpu=2s")
			if err != nil {
				errs <- err
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != 200 || n != 64<<10) {
				err = fmt.Errorf("status %d, %d bytes", resp.StatusCode, n)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a CPU-heavy request failed: %v", err)
		}
	}
	if n := e.log.count("worker presumed hung"); n != 0 {
		t.Fatalf("a CPU-busy worker was presumed hung %d times", n)
	}
	if ws := e.g.Status().Workers[0]; ws.Restarts != 0 || ws.RTT == "" {
		t.Fatalf("after the busy requests: %+v", ws)
	}
}
