package parent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
	b, at, err := p.acquireAt(context.Background(), DefaultQueueTimeout, nil)
	o.waited, o.err = time.Since(start)-o.at, err
	if err == nil {
		time.Sleep(service)
		p.releaseAt(b, at, true)
	}
	return o
}

// openLoop sends n requests through p, one every gap, each holding its slot
// for service, and returns their outcomes once all have ended.
func openLoop(p *pool, n int, gap, service time.Duration) []outcome {
	return openLoopGaps(p, n, func() time.Duration { return gap }, service)
}

// openLoopGaps is openLoop with the gaps between arrivals drawn from gap.
func openLoopGaps(p *pool, n int, gap func() time.Duration, service time.Duration) []outcome {
	start := time.Now()
	var (
		mu  sync.Mutex
		out []outcome
		wg  sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			o := serveOne(p, start, service)
			mu.Lock()
			out = append(out, o)
			mu.Unlock()
		})
		if i < n-1 {
			time.Sleep(gap())
		}
	}
	wg.Wait()
	return out
}

// judgeOpenLoop checks the outcomes of an open loop past onset: each
// request served within maxWait, or refused as overload at once. It returns
// how many were served in all.
func judgeOpenLoop(t *testing.T, out []outcome, onset, maxWait time.Duration) (served int) {
	t.Helper()
	for _, o := range out {
		switch {
		case o.err == nil:
			served++
			if o.at > onset && o.waited > maxWait {
				t.Errorf("request at %v waited %v for its slot; want at most %v", o.at, o.waited, maxWait)
			}
		case !errors.Is(o.err, errOverloaded):
			t.Errorf("request at %v: %v; want served or refused as overload", o.at, o.err)
		case o.at > onset && o.waited > 0:
			t.Errorf("request at %v refused after %v; want at once", o.at, o.waited)
		}
	}
	return served
}

// TestPoolOverloadOpenLoop: requests at two workers that take 100 ms each,
// at ten times their capacity for 2 s, and at two and a half times for 3 s.
// After the onset every refusal comes at once, no served request waited
// longer than half a service time, and the workers never idled. At two and
// a half times, the workers free their slots together, every 100 ms, and
// requests come every 20 ms: one held whatever comes next (the reserve)
// would wait up to a whole service time, so it is the forecast of when a
// slot frees that keeps the waits short.
func TestPoolOverloadOpenLoop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		gap    time.Duration
		onset  time.Duration
		served int // the slots are busy from 0 to the end of the last service, at two per 100 ms
	}{
		{"ten times capacity", 400, 5 * ms, 200 * ms, 40},
		{"two and a half times", 150, 20 * ms, 300 * ms, 59},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := overloadPool(t)
				served := judgeOpenLoop(t, openLoop(p, tc.n, tc.gap, 100*ms), tc.onset, 50*ms)
				if served < tc.served {
					t.Errorf("%d served; want the workers kept busy (at least %d)", served, tc.served)
				}
				// Once nothing more finds the workers full, it is over
				// within quietEnd.
				span := time.Duration(tc.n-1) * tc.gap
				time.Sleep(p.control.quietEnd())
				if total, now := p.overload(); now || total < span-100*ms {
					t.Errorf("overloaded for %v, still %v; want about %v, then over", total, now, span)
				}
			})
		})
	}
}

// TestPoolOverloadRandomArrivals: arrivals at random (Poisson, seeded) at
// three and ten times the capacity of two workers that take 100 ms each,
// for 10 s. Random arrivals bunch and leave lulls; a lull over one
// interval looks like the end of the overload, and each onset after it
// costs the requests that queued while it was told. The overload is told
// once, and after it every refusal comes at once.
func TestPoolOverloadRandomArrivals(t *testing.T) {
	for _, factor := range []float64{3, 10} {
		t.Run(fmt.Sprintf("%g times capacity", factor), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := overloadPool(t)
				rng := rand.New(rand.NewPCG(1, 2))
				rate := 20 * factor
				gap := func() time.Duration { return time.Duration(rng.ExpFloat64() / rate * float64(time.Second)) }
				out := openLoopGaps(p, int(10*rate), gap, 100*ms)
				judgeOpenLoop(t, out, 300*ms, 50*ms)
				if n := p.control.overloads; n != 1 {
					t.Errorf("the overload was told %d times; want once", n)
				}
			})
		})
	}
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

// TestPoolOverloadOnsetWaitsOneServiceAtMost: at ten times the capacity of
// two workers that take 100 ms each, from an idle start, a request served
// during the onset too waits at most about one service time. The queue's
// reserve absorbs a burst, but the waiter that is the reserve when the
// overload is told may be one that already waited a service time and would
// wait another, as the forecast says by then.
func TestPoolOverloadOnsetWaitsOneServiceAtMost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := overloadPool(t)
		out := openLoop(p, 100, 5*ms, 100*ms)
		served, refused := 0, 0
		for _, o := range out {
			switch {
			case o.err == nil:
				served++
				if o.waited > 110*ms {
					t.Errorf("request at %v waited %v for its slot; want at most about one service time (100 ms)", o.at, o.waited)
				}
			case errors.Is(o.err, errOverloaded):
				refused++
			default:
				t.Errorf("request at %v: %v; want served or refused as overload", o.at, o.err)
			}
		}
		// The bound on the waits says nothing if nothing is served: the
		// slots stay busy over the 500 ms of arrivals, two per 100 ms, and
		// the rest is refused.
		if served < 10 || refused == 0 {
			t.Errorf("%d served, %d refused; want the workers kept busy (at least 10 served) and the excess refused", served, refused)
		}
	})
}
