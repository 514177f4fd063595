package parent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// Routing by load reports: each test runs in a bubble, over in-memory
// connections whose worker end the test drives, so that "a report has
// arrived" and "a request is waiting" are facts, not timings.

// routeWorker is a backend in a pool whose worker end sends what the test
// says.
type routeWorker struct {
	b     *backend
	peer  *ipc.Conn     // the worker's end
	noted chan ipc.Load // each report, once the pool has noted it
}

// routeAdd connects a worker end with wcfg (nil: defaults) and adds its
// backend to p, its reports wired to p as the supervisor wires them.
func routeAdd(t *testing.T, p *pool, id int, wcfg *ipc.Config) *routeWorker {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	if wcfg == nil {
		wcfg = &ipc.Config{}
	}
	wcfg.Logger = quiet
	w := &routeWorker{b: &backend{id: id}, noted: make(chan ipc.Load, 16)}
	pe, we := launchPipe()
	srv := make(chan *ipc.Conn, 1)
	go func() {
		c, err := ipc.Server(we, wcfg)
		if err != nil {
			t.Errorf("worker %d handshake: %v", id, err)
		}
		srv <- c
	}()
	conn, err := ipc.Client(pe, p.connConfig(&ipc.Config{Logger: quiet, OnLoad: func(l ipc.Load) { w.noted <- l }}, w.b))
	if err != nil {
		t.Fatal(err)
	}
	w.b.conn = conn
	if w.peer = <-srv; w.peer == nil {
		t.FailNow()
	}
	t.Cleanup(func() { conn.Close(); w.peer.Close() })
	p.add(w.b)
	return w
}

// report sends l and returns once the pool has noted it.
func (w *routeWorker) report(t *testing.T, l ipc.Load) {
	t.Helper()
	w.peer.SendLoad(l)
	select {
	case <-w.noted:
	case <-time.After(time.Minute):
		t.Fatalf("worker %d: the load report never arrived", w.b.id)
	}
}

// routePicks acquires n slots at once and returns the worker each went to;
// none may wait.
func routePicks(t *testing.T, p *pool, n int) []int {
	t.Helper()
	var ids []int
	for range n {
		p.mu.Lock()
		b := p.pickLocked(nil)
		p.mu.Unlock()
		if b == nil {
			t.Fatalf("after %v, no worker has room", ids)
		}
		got, err := p.acquire(context.Background(), time.Hour, nil)
		if err != nil || got != b {
			t.Fatalf("acquire = %v, %v; want worker %d at once", got, err, b.id)
		}
		ids = append(ids, b.id)
	}
	return ids
}

// routeFull reports whether no worker has room for another request.
func routeFull(p *pool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pickLocked(nil) == nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRouteByLoadReports: in automatic mode a worker's allowance is Limit +
// 2 × Blocked + Draining of its last report (2 before one, never more than its
// streams less one); each request goes to the most room, a tie to the
// fewest open, then to the first.
func TestRouteByLoadReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pool{maxQueue: 10}
		w1 := routeAdd(t, p, 1, nil)
		w2 := routeAdd(t, p, 2, nil)
		routeAdd(t, p, 3, nil) // never reports: the default, 2
		w4 := routeAdd(t, p, 4, &ipc.Config{MaxStreams: 2})
		w1.report(t, ipc.Load{Limit: 4, InFlight: 9, Waiting: 9, QueuedBytes: 1 << 30})
		w2.report(t, ipc.Load{Limit: 1, Blocked: 1, Draining: 1, PressurePermille: 999})
		w4.report(t, ipc.Load{Limit: 100}) // one stream, less the admin one
		got := routePicks(t, p, 11)
		// Room (allowance − open) before each pick, for workers 1 2 3 4:
		// 4 4 2 1 → 1; 3 4 2 1 → 2; 3 3 2 1 → 1 (open 1 each: the first);
		// 2 3 2 1 → 2; 2 2 2 1 → 3 (fewest open); 2 2 1 1 → 1; 1 2 1 1 → 2;
		// 1 1 1 1 → 4 (none open); 1 1 1 0 → 3; then 1, then 2.
		want := []int{1, 2, 1, 2, 3, 1, 2, 4, 3, 1, 2}
		if !equalInts(got, want) || !routeFull(p) {
			t.Fatalf("picks %v (full afterwards: %v); want %v, then full", got, routeFull(p), want)
		}

		// A lower report keeps what is open, and sends nothing more there;
		// streams that end make room only under the new allowance.
		w1.report(t, ipc.Load{Limit: 1})
		for range 3 {
			p.release(w1.b)
		}
		if !routeFull(p) {
			t.Fatal("worker 1 got room at 1 open with an allowance of 1")
		}
		p.release(w1.b)
		if got := routePicks(t, p, 1); got[0] != 1 || !routeFull(p) {
			t.Fatalf("after worker 1 fell to 0 open: picks %v; want 1, then full", got)
		}
		// A report of no limit at all still allows one.
		w2.report(t, ipc.Load{})
		for range 4 {
			p.release(w2.b)
		}
		if got := routePicks(t, p, 1); got[0] != 2 || !routeFull(p) {
			t.Fatalf("worker 2 reporting Limit 0: picks %v; want one request there", got)
		}
	})
}

// TestRouteLoadDispatchesWaiters: a report that raises a worker's
// allowance hands the new room to waiting requests at once; one that does
// not raise it leaves them waiting.
func TestRouteLoadDispatchesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pool{maxQueue: 10}
		w := routeAdd(t, p, 1, nil)
		routePicks(t, p, defaultAllowance)
		granted := make(chan *backend, 2)
		for range 2 {
			go func() {
				b, err := p.acquire(context.Background(), time.Hour, nil)
				if err != nil {
					t.Error(err)
				}
				granted <- b
			}()
		}
		synctest.Wait()
		if _, waiting := p.counts(); waiting != 2 {
			t.Fatalf("%d requests wait; want 2", waiting)
		}
		w.report(t, ipc.Load{Limit: defaultAllowance, InFlight: defaultAllowance})
		synctest.Wait()
		if _, waiting := p.counts(); waiting != 2 || len(granted) != 0 {
			t.Fatalf("a report of the same allowance dispatched: %d waiting", waiting)
		}
		w.report(t, ipc.Load{Limit: 1, Blocked: 1, Draining: 1}) // allowance 1 + 2×1 + 1 = 4
		synctest.Wait()
		for range 2 {
			select {
			case b := <-granted:
				if b != w.b {
					t.Fatalf("granted %v", b)
				}
			default:
				t.Fatal("a waiting request was not dispatched when the allowance rose")
			}
		}
		if open, waiting := p.counts(); open != 4 || waiting != 0 {
			t.Fatalf("open %d, waiting %d; want 4 and 0", open, waiting)
		}
	})
}

// TestRouteHardCapIgnoresReports: with a hard cap the reports neither add
// room nor dispatch; switching to automatic (PUT /config max_inflight 0)
// routes by them at once.
func TestRouteHardCapIgnoresReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pool{limit: 1, maxQueue: 10}
		w := routeAdd(t, p, 1, nil)
		w.report(t, ipc.Load{Limit: 50})
		routePicks(t, p, 1)
		if !routeFull(p) {
			t.Fatal("a report of 50 added room under a hard cap of 1")
		}
		granted := make(chan *backend, 1)
		go func() {
			b, _ := p.acquire(context.Background(), time.Hour, nil)
			granted <- b
		}()
		synctest.Wait()
		w.report(t, ipc.Load{Limit: 60})
		synctest.Wait()
		if len(granted) != 0 {
			t.Fatal("a report dispatched a waiter under a hard cap")
		}
		p.setLimit(0)
		synctest.Wait()
		if len(granted) != 1 {
			t.Fatal("the waiter was not dispatched on the switch to automatic")
		}
		if got := routePicks(t, p, 58); len(got) != 58 || !routeFull(p) {
			t.Fatal("automatic mode did not allow the reported 60")
		}
	})
}

// TestRouteDefaultAllowance: a worker that has not reported yet gets
// defaultAllowance requests, and the rest wait for it.
func TestRouteDefaultAllowance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pool{maxQueue: 10}
		routeAdd(t, p, 1, nil)
		routePicks(t, p, defaultAllowance)
		if !routeFull(p) {
			t.Fatalf("a worker with no report took more than %d", defaultAllowance)
		}
		if _, err := p.acquire(context.Background(), time.Second, nil); !errors.Is(err, errQueueTimeout) {
			t.Fatalf("acquire beyond the default allowance: %v; want errQueueTimeout", err)
		}
	})
}

// routeLauncher starts workers whose ends the test drives.
type routeLauncher struct{ peers chan *ipc.Conn }

func (l routeLauncher) launch(id int, env []string) (workerHandle, net.Conn, error) {
	pe, we := launchPipe()
	go func() {
		c, _ := ipc.Server(we, &ipc.Config{Logger: slog.New(slog.DiscardHandler)})
		l.peers <- c
	}()
	return gwExitedHandle{gwFakePID(id)}, pe, nil
}

// TestSpawnWiresLoadReports: a worker the supervisor starts feeds its load
// reports to its backend from the first one, before it is routed to.
func TestSpawnWiresLoadReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := routeLauncher{peers: make(chan *ipc.Conn, 1)}
		p := &pool{maxQueue: 1}
		s := &supervisor{cfg: Config{IPC: &ipc.Config{Logger: slog.New(slog.DiscardHandler)}}, pool: p, launcher: l}
		proc, b, err := s.spawn(&slot{id: 3})
		if err != nil {
			t.Fatal(err)
		}
		peer := <-l.peers
		defer peer.Close()
		defer proc.conn.Close()
		peer.SendLoad(ipc.Load{Limit: 5, Blocked: 2})
		synctest.Wait()
		if b.conn != proc.conn || b.id != 3 || b.pid != gwFakePID(3) || b.reported.Load() != 9 {
			t.Fatalf("backend id %d pid %d, its connection the process's: %v, reported %d; want 3, %d, true, 9 (5 + 2×2)",
				b.id, b.pid, b.conn == proc.conn, b.reported.Load(), gwFakePID(3))
		}
	})
}
