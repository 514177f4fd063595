package parent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The worker timeouts (progress.go) against hostile workers that keep
// their connection alive but make no progress on their streams.

const (
	hwWindow = 0x4
	hwLoad   = 0x7
)

// hwLoadFrame is a 24-byte LOAD reporting nothing in flight and limit.
func hwLoadFrame(limit uint32) []byte {
	p := make([]byte, 24)
	binary.BigEndian.PutUint32(p[8:], limit)
	return hwFrame(hwLoad, 0, 0, p)
}

// sendData sends n bytes of DATA on stream id within the credit the
// parent grants (64 KiB at the start, then its WINDOW frames), answering
// its other frames meanwhile.
func (w *hostileWorker) sendData(id uint32, n int) error {
	credit := 64 << 10
	chunk := make([]byte, 16<<10)
	for n > 0 {
		for credit == 0 {
			typ, flags, sid, p, err := w.readFrame()
			if err != nil {
				return err
			}
			if typ == hwWindow && sid == id {
				credit += int(binary.BigEndian.Uint32(p))
				continue
			}
			if err := w.answer(typ, flags, sid, p); err != nil {
				return err
			}
		}
		k := min(n, credit, len(chunk))
		if _, err := w.nc.Write(hwFrame(hwData, 0, id, chunk[:k])); err != nil {
			return err
		}
		credit -= k
		n -= k
	}
	return nil
}

// stalledBackend is the live backend of the hostile worker.
func (e *hostileEnv) stalledBackend() *backend {
	e.t.Helper()
	e.g.pool.mu.Lock()
	defer e.g.pool.mu.Unlock()
	for _, b := range e.g.pool.backends {
		if b.pid == e.l.hostile.pid() {
			return b
		}
	}
	e.t.Fatal("the hostile worker is not in the pool")
	return nil
}

// hostileLoadOnly is a worker that stops reading its socket after the
// handshake but keeps sending valid LOAD frames reporting limit 64.
func hostileLoadOnly(w *hostileWorker) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.killed:
			return errors.New("killed")
		case <-tick.C:
			if _, err := w.nc.Write(hwLoadFrame(64)); err != nil {
				return err
			}
		}
	}
}

// TestHostileWorkerTakesNoBody: a worker that reads nothing takes none of
// a 4 MiB upload beyond the first credit: the body's write waits for
// credit for the header timeout, and the client gets 504, not a hang.
func TestHostileWorkerTakesNoBody(t *testing.T) {
	e := hostileStartWith(t, hostileLoadOnly, func(c *Config) {
		c.WorkerHeaderTimeout = time.Second
	})
	e.waitUp(1)
	ctx, cancel := context.WithTimeout(context.Background(), gwWait)
	defer cancel()
	resp, err := e.post(ctx, make([]byte, 4<<20))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("an upload the worker never takes: %d %q; want 504", resp.StatusCode, body)
	}
	e.checkReplaced(t)
	gwUntil(t, "the stalled worker is stopped", func() bool { return isClosed(e.l.hostile.done) })
}

// TestHostileWorkerStalledRoutedAround: one worker stops reading its
// socket after the handshake but keeps sending valid LOAD frames (any
// frame counts as proof of life, so the liveness window never ends it),
// reporting an allowance that makes it the pool's first pick; the other is
// healthy. Of 20 sequential requests one times out (504, worker_timeout in
// the access log, counted), and every other one is served by the healthy
// worker; the stalled one is replaced and, having no stream left, stopped.
func TestHostileWorkerStalledRoutedAround(t *testing.T) {
	access := &gwLogs{}
	e := hostileStartWith(t, hostileLoadOnly, func(c *Config) {
		c.Workers = 2
		c.WorkerHeaderTimeout = time.Second
		c.WorkerIdleTimeout = time.Second
		c.AccessLog, c.AccessLogFormat = access, AccessLogJSON
	})
	e.waitUp(2)
	stalled := e.stalledBackend()
	gwUntil(t, "the stalled worker's load report", func() bool { return stalled.reported.Load() == 64 })

	codes := map[int]int{}
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), gwWait)
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/bytes?n=10", nil)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			cancel()
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil {
			t.Fatalf("request %d: reading: %v", i, err)
		}
		if resp.StatusCode == 200 && string(body) != "xxxxxxxxxx" {
			t.Fatalf("request %d: 200 with %q", i, body)
		}
		codes[resp.StatusCode]++
	}
	if codes[http.StatusGatewayTimeout] != 1 || codes[200] != 19 {
		t.Fatalf("statuses %v; want one 504 (the stalled worker's first request) and 19 served by the healthy worker", codes)
	}
	if n := gwMetric(t, e.g, "sluice_worker_timeouts_total", map[string]string{"timeout": "header"}); n != 1 {
		t.Fatalf("sluice_worker_timeouts_total{timeout=header} %v; want 1", n)
	}
	if n := strings.Count(access.String(), `"end":"worker_timeout"`); n != 1 {
		t.Fatalf("%d access log lines with end worker_timeout; want 1:\n%s", n, access)
	}
	if n := len(e.log.records("worker made no progress")); n != 1 {
		t.Fatalf("%d stall warnings; want 1", n)
	}
	e.waitLog("worker replaced", 1)
	e.waitLog("retired worker stopped", 1)
	gwUntil(t, "the stalled worker is stopped", func() bool { return isClosed(e.l.hostile.done) })
	e.waitUp(2)
	if restarts := gwMetric(t, e.g, "sluice_worker_restarts_total", map[string]string{"reason": "stalled"}); restarts != 1 {
		t.Fatalf("restarts for stalled %v; want 1", restarts)
	}
}

// TestHostileWorkerStallsMidResponse: a worker declares a 10 GiB
// response, sends 1 MiB and then nothing, while answering pings. The
// client, which takes every byte, is cut after the idle timeout (never a
// response that looks complete), the stream is reset, the slot freed, and
// the worker replaced.
func TestHostileWorkerStallsMidResponse(t *testing.T) {
	streams := make(chan uint32, 1)
	e := hostileStartWith(t, func(w *hostileWorker) error {
		id, err := w.awaitRequest()
		if err != nil {
			return err
		}
		streams <- id
		if _, err := w.nc.Write(hwFrame(hwHead, 0, id, hwFields(":status", "200", "content-length", "10737418240"))); err != nil {
			return err
		}
		if err := w.sendData(id, 1<<20); err != nil {
			return err
		}
		return w.keepAlive()
	}, func(c *Config) {
		c.WorkerHeaderTimeout = time.Second
		c.WorkerIdleTimeout = time.Second
	})
	e.waitUp(1)
	ctx, cancel := context.WithTimeout(context.Background(), gwWait)
	defer cancel()
	resp, err := e.post(ctx, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != 10<<30 {
		t.Fatalf("Content-Length %d; want the worker's 10 GiB", resp.ContentLength)
	}
	body, rerr := io.ReadAll(resp.Body)
	switch {
	case errors.Is(rerr, context.DeadlineExceeded):
		t.Fatalf("the client was never cut: %d bytes in %v", len(body), gwWait)
	case rerr == nil:
		t.Fatalf("the body of %d bytes read as complete", len(body))
	case len(body) != 1<<20:
		t.Fatalf("the client got %d bytes before the cut; want the 1 MiB sent", len(body))
	}
	id := gwRecv(t, streams, "the request at the worker")
	gwUntil(t, "the slot is freed", func() bool { open, _ := e.g.pool.counts(); return open == 0 })
	gwUntil(t, "the worker is told (RESET)", func() bool { return e.l.hostile.wasReset(id) })
	if n := gwMetric(t, e.g, "sluice_worker_timeouts_total", map[string]string{"timeout": "idle"}); n != 1 {
		t.Fatalf("sluice_worker_timeouts_total{timeout=idle} %v; want 1", n)
	}
	if n := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "worker"}); n != 1 {
		t.Fatalf("sluice_http_aborted_total{cause=worker} %v; want 1", n)
	}
	e.checkReplaced(t)
	gwUntil(t, "the stalled worker is stopped", func() bool { return isClosed(e.l.hostile.done) })
}

// pausingRecorder is a client that takes nothing for pause at its body
// write number at (1-based; 0: never).
type pausingRecorder struct {
	*supRecorder
	pause  time.Duration
	at     int
	writes int
}

func (r *pausingRecorder) Write(p []byte) (int, error) {
	if r.writes++; r.writes == r.at {
		time.Sleep(r.pause)
	}
	return r.supRecorder.Write(p)
}

// serveWith runs one request through the gateway as net/http would, the
// abort panic included, reporting whether the response was aborted.
func (e *supEnv) serveWith(w http.ResponseWriter, req *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	e.g.ServeHTTP(w, req)
	return false
}

// TestWorkerTimeoutsProgressAndStall, on the fake clock: a head that comes
// within the header timeout and data that come within the idle timeout are
// progress; time waiting on the client never counts (a client that takes
// nothing for five idle timeouts gets all of its response, an upload that
// pauses for three header timeouts between its pieces is answered). A
// head that does not come is a 504, data that stop are a cut; each is
// counted and replaces the worker.
func TestWorkerTimeoutsProgressAndStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = time.Second
		mux := http.NewServeMux()
		mux.Handle("/", supHandler())
		// /paced: 64 pieces of 16 KiB, 10 ms apart, each flushed: more
		// than the stream's credit, so that a client that pauses holds
		// the worker back.
		mux.HandleFunc("/paced", func(w http.ResponseWriter, r *http.Request) {
			for range 64 {
				time.Sleep(10 * time.Millisecond)
				w.Write(make([]byte, 16<<10))
				w.(http.Flusher).Flush()
			}
		})
		// /echo: the body back as it comes, full duplex.
		mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Body.Read(buf)
				if n > 0 {
					w.Write(buf[:n])
					w.(http.Flusher).Flush()
				}
				if err != nil {
					return
				}
			}
		})
		mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n, err)
		})
		e := supStart(t, Config{Workers: 1, WorkerHeaderTimeout: timeout, WorkerIdleTimeout: timeout}, &launchFake{handler: mux})
		e.waitUp(1)
		if err := e.get("/sleep?d=900ms&n=3").ok(3); err != nil {
			t.Fatalf("a head within the header timeout: %v", err)
		}
		if err := e.get("/slow?d=900ms").ok(1); err != nil {
			t.Fatalf("data within the idle timeout: %v", err)
		}

		// It pauses at its third write: the copy has waited for the
		// worker's data before each.
		rec := &pausingRecorder{supRecorder: newSupRecorder(), pause: 5 * timeout, at: 3}
		if aborted := e.serveWith(rec, httptest.NewRequest("GET", "/paced", nil)); aborted || rec.code != 200 || rec.body.Len() != 64*16<<10 {
			t.Fatalf("a client that paused: %d, %d bytes, aborted %v; want all of a 200", rec.code, rec.body.Len(), aborted)
		}

		pr, pw := io.Pipe()
		go func() {
			defer pw.Close()
			for range 3 {
				if _, err := pw.Write(make([]byte, 100<<10)); err != nil {
					return
				}
				time.Sleep(3 * timeout)
			}
		}()
		rec = &pausingRecorder{supRecorder: newSupRecorder()}
		if aborted := e.serveWith(rec, httptest.NewRequest("POST", "/upload", pr)); aborted || rec.code != 200 || rec.body.String() != "307200 <nil>" {
			t.Fatalf("a paused upload: %d %q, aborted %v; want 200 and its 307200 bytes", rec.code, rec.body.String(), aborted)
		}
		// A client that pauses reading an echo of its upload: the worker
		// blocks writing the response, takes no more body, and the body
		// sender waits for its credit. The worker is not stalled.
		rec = &pausingRecorder{supRecorder: newSupRecorder(), pause: 5 * timeout, at: 3}
		upload := bytes.Repeat([]byte("e"), 24<<20)
		if aborted := e.serveWith(rec, httptest.NewRequest("POST", "/echo", bytes.NewReader(upload))); aborted || rec.code != 200 || rec.body.Len() != len(upload) {
			t.Fatalf("an echo to a client that paused: %d, %d bytes, aborted %v; want all of a 200", rec.code, rec.body.Len(), aborted)
		}
		if n := gwMetric(t, e.g, "sluice_worker_timeouts_total", nil); n != 0 || e.g.Status().Workers[0].Restarts != 0 {
			t.Fatalf("%v worker timeouts, %+v, for progress and slow clients; want none", n, e.g.Status().Workers[0])
		}

		res := e.get("/sleep?d=1h&n=3")
		if res.code != http.StatusGatewayTimeout || res.aborted {
			t.Fatalf("no head for an hour: %d, aborted %v; want 504", res.code, res.aborted)
		}
		e.waitLog("worker replaced", 1)
		res = e.get("/slow?d=1h")
		if res.code != 200 || !res.aborted {
			t.Fatalf("no data for an hour after the head: %d, aborted %v; want a cut 200", res.code, res.aborted)
		}
		e.waitLog("worker replaced", 2)
		for kind, want := range map[string]float64{"header": 1, "idle": 1} {
			if n := gwMetric(t, e.g, "sluice_worker_timeouts_total", map[string]string{"timeout": kind}); n != want {
				t.Fatalf("sluice_worker_timeouts_total{timeout=%s} %v; want %v", kind, n, want)
			}
		}
		if n := e.restartsOf("0", "stalled"); n != 2 {
			t.Fatalf("restarts for stalled %v; want 2", n)
		}
		e.waitLog("retired worker stopped", 2)
	})
}
