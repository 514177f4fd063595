package parent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeBackend is a backend over an in-memory ipc connection (launchPipe),
// for synctest bubbles; both ends close at cleanup.
func pipeBackend(t *testing.T, id int) *backend {
	t.Helper()
	a, b := launchPipe()
	return &backend{id: id, conn: ipcOver(t, a, b)}
}

// overloadPool is a pool of two workers taking one request each, with the
// default queue control.
func overloadPool(t *testing.T) *pool {
	p := &pool{limit: 1, maxQueue: DefaultMaxQueue,
		control: queueControl{target: DefaultQueueTarget, interval: DefaultQueueInterval}}
	p.add(pipeBackend(t, 1))
	p.add(pipeBackend(t, 2))
	return p
}

// outcome is one request through the pool: when it came, how long it
// waited for its slot or its refusal, and the refusal.
type outcome struct {
	at, waited time.Duration
	err        error
}

// serveOne acquires a slot and holds it for service, as a request whose
// handler takes that long.
func serveOne(p *pool, start time.Time, service time.Duration) outcome {
	o := outcome{at: time.Since(start)}
	b, err := p.acquire(context.Background(), DefaultQueueTimeout, nil)
	o.waited, o.err = time.Since(start)-o.at, err
	if err == nil {
		time.Sleep(service)
		p.release(b)
	}
	return o
}

// TestPoolOverloadOpenLoop: requests arriving every 5 ms at two workers
// that take 100 ms each (ten times their capacity) for 2 s. After the
// first interval every refusal comes at once, no served request waited
// longer than a service time, and the workers never idled: 40 served.
func TestPoolOverloadOpenLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := overloadPool(t)
		start := time.Now()
		var (
			mu  sync.Mutex
			out []outcome
			wg  sync.WaitGroup
		)
		for i := range 400 {
			wg.Go(func() {
				o := serveOne(p, start, 100*ms)
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
			})
			if i < 399 {
				time.Sleep(5 * ms)
			}
		}
		wg.Wait()
		served, refusedLate := 0, 0
		for _, o := range out {
			switch {
			case o.err == nil:
				served++
				if o.at > 200*ms && o.waited > 100*ms {
					t.Errorf("request at %v waited %v for its slot; want at most a service time", o.at, o.waited)
				}
			case !errors.Is(o.err, errOverloaded):
				t.Errorf("request at %v: %v; want served or refused as overload", o.at, o.err)
			case o.at > 200*ms && o.waited > 0:
				refusedLate++
			}
		}
		// The slots are busy from 0 to the last release: 2 s of arrivals
		// plus the reserve's service, at two per 100 ms.
		if served < 40 {
			t.Errorf("%d served; want the workers kept busy (at least 40)", served)
		}
		if refusedLate != 0 {
			t.Errorf("%d refusals after the onset waited; want every one at once", refusedLate)
		}
		if total, now := p.overload(); now || total < 1900*ms {
			t.Errorf("overloaded for %v, still %v; want about 2 s, then over", total, now)
		}
	})
}

// TestPoolBurstServedWhole: fifty requests at once, and nothing after,
// all wait their turn: a burst is not overload.
func TestPoolBurstServedWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := overloadPool(t)
		start := time.Now()
		errs := make(chan error, 50)
		for range 50 {
			go func() { errs <- serveOne(p, start, 100*ms).err }()
		}
		for range 50 {
			if err := <-errs; err != nil {
				t.Errorf("a request of the burst: %v", err)
			}
		}
		if d := time.Since(start); d != 2500*ms {
			t.Errorf("the burst took %v; want 25 rounds of 100 ms", d)
		}
	})
}

// TestPoolClosedLoopNotRefused: six clients that each send their next
// request as the last one ends keep four waiting on two workers for 3 s,
// and none is refused.
func TestPoolClosedLoopNotRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := overloadPool(t)
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		served := 0
		for range 6 {
			wg.Go(func() {
				for time.Since(start) < 3*time.Second {
					if o := serveOne(p, start, 100*ms); o.err != nil {
						t.Errorf("request at %v: %v", o.at, o.err)
						return
					}
					mu.Lock()
					served++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if served < 60 {
			t.Errorf("%d served in 3 s; want two per 100 ms", served)
		}
	})
}

// TestPoolGapIsNoOverload: while no worker can take requests (the only one
// at its request limit, its replacement starting), requests keep arriving
// and nothing leaves for longer than the interval; that is a gap, not an
// overload: none is refused, and once the replacement is up every one is
// served in arrival order.
func TestPoolGapIsNoOverload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pool{limit: 1, maxQueue: DefaultMaxQueue,
			control: queueControl{target: DefaultQueueTarget, interval: DefaultQueueInterval}}
		old := pipeBackend(t, 1)
		old.maxServed, old.served = 5, 5
		p.add(old)
		start := time.Now()
		var (
			mu    sync.Mutex
			out   []outcome
			order []int
			wg    sync.WaitGroup
		)
		for i := range 30 {
			wg.Go(func() {
				o := outcome{at: time.Since(start)}
				b, err := p.acquire(context.Background(), DefaultQueueTimeout, nil)
				o.waited, o.err = time.Since(start)-o.at, err
				mu.Lock()
				out = append(out, o)
				if err == nil {
					order = append(order, i)
					if b.id != 2 {
						t.Errorf("request %d went to worker %d, at its request limit; want the replacement", i, b.id)
					}
				}
				mu.Unlock()
				if err == nil {
					time.Sleep(time.Millisecond)
					p.release(b)
				}
			})
			time.Sleep(10 * ms) // 300 ms of arrivals: three intervals
		}
		p.add(pipeBackend(t, 2)) // the replacement is up
		wg.Wait()
		for _, o := range out {
			if o.err != nil {
				t.Fatalf("a request that came at %v was refused after %v: %v", o.at, o.waited, o.err)
			}
			if o.at == 0 && o.waited < 290*ms {
				t.Fatalf("the first request waited %v; want the whole gap, about 300 ms", o.waited)
			}
		}
		for k, i := range order {
			if k != i {
				t.Fatalf("served in order %v; want arrival order", order)
			}
		}
		if _, over := p.overload(); over {
			t.Error("the queue is overloaded after the gap")
		}
	})
}
