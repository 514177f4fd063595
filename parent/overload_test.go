package parent

import (
	"math"
	"testing"
	"time"
)

const ms = time.Millisecond

// controlAt drives a queueControl with a fake clock: t0 plus an offset.
type controlAt struct {
	q     queueControl
	t0    time.Time
	queue int // the queue's length as the test keeps it
}

func newControlAt() *controlAt {
	return &controlAt{q: queueControl{target: 5 * ms, interval: 100 * ms}, t0: time.Unix(1000, 0)}
}

func (c *controlAt) at(d time.Duration) time.Time { return c.t0.Add(d) }

// arrive is a request that finds no worker with room and queues.
func (c *controlAt) arrive(d time.Duration) {
	c.q.offer(c.at(d))
	c.queue++
	c.q.noteLen(c.at(d), c.queue)
}

// serve is the head of the queue leaving with a worker, in the slot that a
// request finishing has just freed; the one that finished took 100 ms, as
// the pool notes it (releaseAt).
func (c *controlAt) serve(d time.Duration) {
	c.q.noteService(100 * ms)
	c.q.finish(c.at(d))
	c.q.grant(c.at(d), true)
	c.queue--
	c.q.noteLen(c.at(d), c.queue)
}

func (c *controlAt) overloaded(d time.Duration) bool {
	o, _ := c.q.update(c.at(d), c.queue, 1)
	return o
}

// TestControlBurstIsNotOverload: fifty requests at once, served two per
// 100 ms, keep the queue standing for 2.5 s, but nothing more arrives than
// leaves after the burst: never overloaded.
func TestControlBurstIsNotOverload(t *testing.T) {
	c := newControlAt()
	for range 50 {
		c.arrive(0)
	}
	if c.overloaded(0) {
		t.Fatal("overloaded at the burst itself")
	}
	for d := 100 * ms; c.queue > 0; d += 100 * ms {
		c.serve(d)
		c.serve(d)
		if c.overloaded(d) {
			t.Fatalf("overloaded at %v with %d waiting", d, c.queue)
		}
	}
}

// TestControlSpreadBurstBeforeAnyServiceIsNotOverload: fifty requests
// whose arrivals spread over 150 ms, longer than an interval, reach a
// gateway that has not finished a stream yet (each takes 300 ms): the
// queue stands and nothing has left, but with no service time measured it
// is not overload; nor is it once the first streams end, the burst over.
func TestControlSpreadBurstBeforeAnyServiceIsNotOverload(t *testing.T) {
	c := newControlAt()
	for i := range 50 {
		d := time.Duration(i) * 3 * ms
		c.arrive(d)
		if c.overloaded(d) {
			t.Fatalf("overloaded at %v, request %d of the burst, before any stream ended", d, i+1)
		}
	}
	for d := 150 * ms; d < 300*ms; d += 10 * ms {
		if c.overloaded(d) {
			t.Fatalf("overloaded at %v, before any stream ended", d)
		}
	}
	for d := 300 * ms; c.queue > 0; d += 150 * ms {
		c.serve(d)
		c.serve(d)
		if c.overloaded(d) {
			t.Fatalf("overloaded at %v with %d waiting, the burst over", d, c.queue)
		}
	}
}

// TestControlBurstAcrossSlotsIsNotOverload: a burst that straddles a slot
// boundary stays in the window a slot longer than an interval; a look
// then (a scrape), one interval after the burst, finds it no overload.
func TestControlBurstAcrossSlotsIsNotOverload(t *testing.T) {
	c := newControlAt()
	c.q.advance(c.at(0)) // the slots start at 0, 10 ms, 20 ms...
	for i := range 50 {
		c.arrive(9*ms + time.Duration(i)*40*time.Microsecond) // 9 ms to 11 ms
	}
	for _, d := range []time.Duration{101 * ms, 105 * ms, 109 * ms, 112 * ms, 119 * ms, 125 * ms} {
		if c.overloaded(d) {
			t.Fatalf("overloaded at %v by a burst at 9..11 ms", d)
		}
	}
}

// TestControlClosedLoopIsNotOverload: six clients on two slots, each
// coming back as it is served, keep four waiting for ever: not overload.
func TestControlClosedLoopIsNotOverload(t *testing.T) {
	c := newControlAt()
	for range 4 {
		c.arrive(0)
	}
	for d := 50 * ms; d < 5*time.Second; d += 50 * ms {
		c.serve(d)
		c.arrive(d)
		if c.overloaded(d) {
			t.Fatalf("overloaded at %v", d)
		}
	}
}

// TestControlAllowanceMovesAreNotOverload: eight clients in a closed loop,
// four being served and four waiting, while the workers' allowance halves
// (two requests finish and their clients come back, none is let go) and
// then recovers (two let go at once): the queue grows by two within an
// interval, but the requests in the gateway stay eight, so it is not
// overload.
func TestControlAllowanceMovesAreNotOverload(t *testing.T) {
	c := newControlAt()
	for range 4 {
		c.arrive(0)
	}
	d := time.Duration(0)
	for range 20 {
		d += 100 * ms
		c.serve(d)
		c.arrive(d)
	}
	for range 5 {
		// The allowance halves: two finish, both clients come back.
		for range 2 {
			d += 20 * ms
			c.q.finish(c.at(d))
			c.arrive(d)
			if c.overloaded(d) {
				t.Fatalf("overloaded at %v, %d waiting, after the allowance fell", d, c.queue)
			}
		}
		// It recovers: two are let go at once.
		d += 60 * ms
		for range 2 {
			c.q.grant(c.at(d), true)
			c.queue--
			c.q.noteLen(c.at(d), c.queue)
		}
		if c.overloaded(d) {
			t.Fatalf("overloaded at %v, %d waiting", d, c.queue)
		}
	}
}

// TestControlDrainedBurstIsNotOverload: two hundred slow clients arrive over
// 400 ms while the workers' allowance grows as their handlers block on them:
// each leaves the queue almost as it comes, and none finishes for minutes.
// The requests in the gateway grow, but the queue does not: not overload.
func TestControlDrainedBurstIsNotOverload(t *testing.T) {
	c := newControlAt()
	c.arrive(0)
	for i := range 200 {
		d := time.Duration(i) * 2 * ms
		c.arrive(d)
		c.q.grant(c.at(d+ms), true) // the one ahead of it leaves
		c.queue--
		c.q.noteLen(c.at(d+ms), c.queue)
		if c.overloaded(d + ms) {
			t.Fatalf("overloaded at %v, %d waiting, by a burst that leaves as it comes", d+ms, c.queue)
		}
	}
}

// TestControlGrowthIsOverload: arrivals at ten times the drain enter the
// overloaded state as soon as the queue has stood a whole interval, once;
// it stays while they go on (refused ones count: they came), and ends one
// interval after they stop, with the time in it summed exactly.
func TestControlGrowthIsOverload(t *testing.T) {
	c := newControlAt()
	entered := 0
	var enteredAt time.Duration
	for d := time.Duration(0); d < time.Second; d += 5 * ms {
		if c.queue < 1 || d < 110*ms {
			c.arrive(d)
		} else {
			c.q.offer(c.at(d)) // refused at once: it came, it did not queue
			c.q.refuse(c.at(d))
		}
		if d%(50*ms) == 0 && d > 0 {
			c.serve(d)
		}
		o, e := c.q.update(c.at(d), c.queue, 1)
		if e {
			entered++
			enteredAt = d
		}
		if d >= 110*ms && !o {
			t.Fatalf("not overloaded at %v with %d waiting", d, c.queue)
		}
	}
	// Standing a whole interval and the slot a burst may straddle.
	if entered != 1 || enteredAt != 110*ms {
		t.Fatalf("entered %d times, last at %v; want once, at 110ms", entered, enteredAt)
	}
	// The load stops; the queue drains at the same pace. Nothing finds
	// the workers full from then on, which ends the overload within
	// quietEnd.
	end := time.Second
	for d := end; d < end+400*ms; d += 50 * ms {
		if c.queue > 0 {
			c.serve(d)
		}
		if !c.overloaded(d) {
			if d > end+c.q.quietEnd() {
				t.Fatalf("still overloaded %v after the load stopped", d-end)
			}
			total, now := c.q.overloadedTime(c.at(d + time.Hour))
			if now || total != d-110*ms {
				t.Fatalf("overloaded for %v (now %v); want %v", total, now, d-110*ms)
			}
			return
		}
	}
	t.Fatal("never left the overloaded state")
}

// TestControlOff: with no target the queue is never overloaded.
func TestControlOff(t *testing.T) {
	c := newControlAt()
	c.q.target = 0
	for d := time.Duration(0); d < time.Second; d += ms {
		c.arrive(d)
		if c.overloaded(d) {
			t.Fatalf("overloaded at %v with the control off", d)
		}
	}
	if w := c.q.wait(500, 2, time.Second, slotForecast{}); w != time.Second {
		t.Fatalf("wait %v; want the queue timeout", w)
	}
}

// grantsAt feeds q grants at rate per second for span, from t0.
func grantsAt(q *queueControl, t0 time.Time, rate float64, span time.Duration) time.Time {
	step := time.Duration(float64(time.Second) / rate)
	t := t0
	for ; t.Sub(t0) < span; t = t.Add(step) {
		q.grant(t, false)
	}
	return t
}

// TestControlRates: the grant rate follows what is routed, and decays
// when nothing is.
func TestControlRates(t *testing.T) {
	q := queueControl{target: 5 * ms, interval: 100 * ms}
	t0 := time.Unix(1000, 0)
	end := grantsAt(&q, t0, 20, 5*time.Second)
	q.advance(end)
	if math.Abs(q.grantRate-20) > 1 {
		t.Fatalf("grant rate %.2f after 5 s at 20/s", q.grantRate)
	}
	q.advance(end.Add(10 * time.Second))
	if q.grantRate > 0.01 {
		t.Fatalf("grant rate %.4f after 10 s of nothing", q.grantRate)
	}
}

// TestControlWait: who waits, and how long, in each state.
func TestControlWait(t *testing.T) {
	slow := queueControl{target: 5 * ms, interval: 100 * ms, overloaded: true, grantRate: 17.6}
	fast := queueControl{target: 5 * ms, interval: 100 * ms, overloaded: true, grantRate: 10000}
	normal := queueControl{target: 5 * ms, interval: 100 * ms, grantRate: 17.6}
	none := queueControl{target: 5 * ms, interval: 100 * ms, overloaded: true}
	for _, tc := range []struct {
		name     string
		q        queueControl
		position int
		want     time.Duration
	}{
		{"normal", normal, 500, 30 * time.Second},
		{"the reserve", slow, 0, 30 * time.Second},
		{"slow drain, past the reserve", slow, 1, 0},
		{"fast drain, served within the target", fast, 49, 5 * ms},
		{"fast drain, beyond the target", fast, 50, 0},
		{"nothing drains", none, 1, 0},
		{"a rate decayed to almost nothing", queueControl{target: 5 * ms, overloaded: true, grantRate: 1e-12}, 1, 0},
	} {
		if got := tc.q.wait(tc.position, 1, 30*time.Second, slotForecast{}); got != tc.want {
			t.Errorf("%s: wait %v; want %v", tc.name, got, tc.want)
		}
	}
}

// TestControlRetryAfter: the time to serve those waiting and those refused
// over the last second at the measured rate, clamped.
func TestControlRetryAfter(t *testing.T) {
	at := time.Unix(1000, 0)
	for _, tc := range []struct {
		name             string
		grants, refusals float64
		waiting          int
		want             time.Duration
	}{
		{"nothing routed yet", 0, 0, 3, time.Second},
		{"ten times capacity", 17.6, 158.4, 2, 9113636363 * time.Nanosecond},
		{"a short queue", 17.6, 0, 2, time.Second},
		{"far beyond", 0.5, 1000, 0, time.Minute},
		{"a rate decayed to almost nothing", 1e-12, 5, 1, time.Minute},
	} {
		q := queueControl{target: 5 * ms, interval: 100 * ms, grantRate: tc.grants, refusalRate: tc.refusals, curStart: at}
		if got := q.retryAfter(at, tc.waiting, time.Second, time.Minute); got != tc.want {
			t.Errorf("%s: %v; want %v", tc.name, got, tc.want)
		}
	}
}

// TestControlQuietEndsOverload: arrivals at five times what the workers
// finish make the queue overloaded; then the load falls, and the next
// request to find the workers full comes after a quiet spell. Judged as it
// arrives (its own offer counted first, as acquire does), it ends the
// overload, though the rates of the last second still remember the growth.
// A request that came after a shorter lull is judged overloaded still.
func TestControlQuietEndsOverload(t *testing.T) {
	c := newControlAt()
	d := time.Duration(0)
	for ; d < 2*time.Second; d += 10 * ms {
		c.arrive(d)
		if d%(50*ms) == 0 {
			c.serve(d)
		}
		c.overloaded(d)
	}
	if !c.q.overloaded {
		t.Fatal("not overloaded at five times capacity")
	}
	c.queue = 0 // the rest of the queue was served or left
	c.q.noteLen(c.at(d), 0)
	lull := d + c.q.quietEnd()/2
	c.arrive(lull)
	if !c.overloaded(lull) {
		t.Fatalf("normal after a lull of %v; want overloaded still", c.q.quietEnd()/2)
	}
	quiet := lull + c.q.quietEnd()
	c.arrive(quiet)
	if c.overloaded(quiet) {
		t.Fatalf("overloaded after %v with nothing finding the workers full; want normal", c.q.quietEnd())
	}
}
