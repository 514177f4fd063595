package parent

import (
	"math"
	"time"
)

// Overload control of the wait queue: controlled delay, after CoDel and
// the request queues of "Fail at scale" (ACM Queue, 2015).
//
// A queue is overloaded when it has not been empty for a whole interval
// and, over that interval, more requests came to it (queued or refused)
// than both left it with a worker and the workers finished, by more than
// the reserve: the queue grew, and so did the requests in the gateway,
// waiting or being served; and once a stream has ended, so that there is
// a service time to judge growth by. While it is, a
// request that finds the reserve full waits only as long as the queue is
// expected to reach it within the target, and is refused at once when it
// would not: a 503 in milliseconds instead of at the queue timeout. The
// queue is back to normal when, over the last second or so, it has all but
// stopped growing (by a tenth of a request an interval, calmGrowth) and
// over the last interval no more came than left; or when nothing found
// the workers full for a quarter of a second (quietEnd). So a lull between
// random arrivals, which a single interval cannot tell from the end, does
// not end an overload.
//
// Which requests an overloaded queue holds (pool_hold.go): those for which
// a worker is expected to free a slot soon, from when the streams it has
// open started and how long streams take. A worker that frees a slot then
// finds a request ready, so refusing the others costs no throughput, and
// the one held waits a fraction of a service time, where a request held
// whatever the forecast (CoDel's rule of never dropping the last packet,
// the reserve) may wait a whole one when the slots were all just taken.
// The hold spans a few arrivals, so that a request comes within it, and at
// most half a service time. Until a service time is measured, the queue
// holds the reserve, one request. A held request is at most a fraction of
// a service old, so first come first served serves clients that are still
// there, and adaptive LIFO would buy nothing: it would serve the newest and
// refuse the oldest after they waited, a slow 503.
//
// Growth, not a standing queue alone, is what counts: a burst (fifty
// exports at once) or a closed loop of patient clients keeps the queue
// standing for seconds while nothing more arrives than leaves, and is
// served whole within the queue timeout, as before. Growth must show both
// against the requests the queue let go and against those the workers
// finished, because the two differ whenever the workers' allowance moves:
// when a worker's CPU limit halves, the queue alone grows over a window
// shorter than a request takes, while the clients of a closed loop stay as
// many as they were; when its handlers block on slow clients and its
// allowance grows, requests leave the queue as fast as they come while
// none finishes for minutes.

// windowSlots is how many slots the interval is cut into: the window slides
// by a tenth of the interval, so that a burst that came at once falls out
// of it one interval later.
const windowSlots = 10

// rateTau smooths the grant, offer and refusal rates behind Retry-After and
// the expected wait: long enough to span several completions of requests
// that take a second, short enough to follow a change of load.
const rateTau = time.Second

// serviceWeight is the weight of each stream's duration in the service
// time estimate, as TCP's smoothed round-trip time weighs each sample.
const serviceWeight = 1.0 / 8

// calmGrowth is the growth, in requests an interval over the last second
// or so, below which an overloaded queue whose last interval saw no more
// come than leave is normal again: a tenth of a request, so that a load
// above capacity keeps the control engaged however its arrivals bunch.
const calmGrowth = 0.1

// serviceClip bounds a sample of the service time, in estimates.
const serviceClip = 4

// holdArrivals is how many arrivals, at the rate requests have been
// finding no room, the hold spans: with arrivals at random, one comes
// within three mean gaps 19 times in 20 (e^-3), so a slot that frees is
// rarely left idle.
const holdArrivals = 3

// queueControl is the wait queue's overload state. It is owned by the pool
// and used with pool.mu held; every method takes the time, so that its
// tests drive it with a fake clock.
type queueControl struct {
	// target is how long a request beyond the reserve may wait while the
	// queue is overloaded; 0 turns the control off.
	target   time.Duration
	interval time.Duration

	// The window: what came to the queue and what left it, per slot of
	// interval/windowSlots, as a ring; cur is the slot that started at
	// curStart.
	slots    [windowSlots]slotCounts
	cur      int
	curStart time.Time

	// nonEmptySince is when the queue last became non-empty (zero while it
	// is empty); emptySince when it last became empty.
	nonEmptySince, emptySince time.Time

	overloaded bool
	// lastOffer is when a request last found no worker with room, and
	// prevOffer when one did before that (quietFor).
	lastOffer, prevOffer time.Time
	// overloadedAt is when the current overload began; overloadedFor sums
	// the overloads that ended.
	overloadedAt  time.Time
	overloadedFor time.Duration
	// overloads counts the times the queue became overloaded.
	overloads int

	// The rates are per second, smoothed over rateTau, of the counts of
	// slotCounts.
	grantRate, offerRate, leftRate, finishRate, refusalRate float64
	// service estimates how long a stream holds its slot, from the
	// durations of those that ended (noteService); 0 before the first.
	service time.Duration
}

// slotCounts is one slot of the window.
type slotCounts struct {
	// offered counts the requests that found no worker with room (queued
	// or refused at once); left those that left the queue with one;
	// finished the requests that workers finished (light ones aside).
	offered, left, finished int
	// granted counts every request routed (at once or from the queue),
	// refused every one answered 503.
	granted, refused int
}

// advance moves the window to now, folding each finished slot into the
// rates.
func (q *queueControl) advance(now time.Time) {
	slot := q.interval / windowSlots
	if slot <= 0 {
		return
	}
	if q.curStart.IsZero() {
		q.curStart = now
		return
	}
	n := int64(now.Sub(q.curStart) / slot)
	if n <= 0 {
		return
	}
	alpha := 1 - math.Exp(-float64(slot)/float64(rateTau))
	perSecond := float64(time.Second) / float64(slot)
	for i := int64(0); i < n && i < windowSlots; i++ {
		s := &q.slots[q.cur]
		q.grantRate += alpha * (float64(s.granted)*perSecond - q.grantRate)
		q.offerRate += alpha * (float64(s.offered)*perSecond - q.offerRate)
		q.leftRate += alpha * (float64(s.left)*perSecond - q.leftRate)
		q.finishRate += alpha * (float64(s.finished)*perSecond - q.finishRate)
		q.refusalRate += alpha * (float64(s.refused)*perSecond - q.refusalRate)
		q.cur = (q.cur + 1) % windowSlots
		q.slots[q.cur] = slotCounts{}
	}
	if n > windowSlots {
		// Slots with nothing in them: the rates decay as if each had
		// been folded.
		decay := math.Pow(1-alpha, float64(n-windowSlots))
		q.grantRate *= decay
		q.offerRate *= decay
		q.leftRate *= decay
		q.finishRate *= decay
		q.refusalRate *= decay
	}
	q.curStart = q.curStart.Add(time.Duration(n) * slot)
}

// window sums the slots of the last interval: what came, and the larger of
// what left the queue and what the workers finished.
func (q *queueControl) window() (offered, gone int) {
	left, finished := 0, 0
	for _, s := range q.slots {
		offered += s.offered
		left += s.left
		finished += s.finished
	}
	return offered, max(left, finished)
}

// noteLen records the queue's length after a change.
func (q *queueControl) noteLen(now time.Time, n int) {
	switch {
	case n > 0 && q.nonEmptySince.IsZero():
		q.nonEmptySince = now
	case n == 0 && !q.nonEmptySince.IsZero():
		q.nonEmptySince = time.Time{}
		q.emptySince = now
	}
}

// offer counts a request that found no worker with room.
func (q *queueControl) offer(now time.Time) {
	q.advance(now)
	q.slots[q.cur].offered++
	q.prevOffer, q.lastOffer = q.lastOffer, now
}

// quietFor is how long before now a request last found no worker with
// room, not counting one that did at now (the request being judged); very
// long if none ever did.
func (q *queueControl) quietFor(now time.Time) time.Duration {
	last := q.lastOffer
	if last.Equal(now) {
		last = q.prevOffer
	}
	if last.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return now.Sub(last)
}

// quietEnd is how long nothing must find the workers full for an overload
// to end at once: longer than the interval, as a gap between random
// arrivals at a few times capacity outlasts one interval now and then, and
// short beside the second that the rates take to fall.
func (q *queueControl) quietEnd() time.Duration {
	return max(q.interval, rateTau/4)
}

// grant counts a request routed to a worker; fromQueue if it waited.
func (q *queueControl) grant(now time.Time, fromQueue bool) {
	q.advance(now)
	q.slots[q.cur].granted++
	if fromQueue {
		q.slots[q.cur].left++
	}
}

// finish counts a request a worker finished.
func (q *queueControl) finish(now time.Time) {
	q.advance(now)
	q.slots[q.cur].finished++
}

// noteService takes the duration of a stream that served its response
// into the service time estimate. A sample counts for at most serviceClip
// times the estimate, so that a stream far longer than the rest (a 60 s
// export beside calls of 100 ms) moves it by a step, not by a leap that
// would make every slot look far off.
func (q *queueControl) noteService(d time.Duration) {
	if q.service == 0 {
		q.service = max(d, 1)
		return
	}
	d = min(d, serviceClip*q.service)
	q.service += time.Duration(serviceWeight * float64(d-q.service))
	q.service = max(q.service, 1)
}

// hold is how soon a slot must be expected to free for an overloaded queue
// to hold a request for it: a few arrivals (holdArrivals), at most half a
// service time, at least the target.
func (q *queueControl) hold() time.Duration {
	h := q.service / 2
	if q.offerRate > 0 {
		// Compared as floats: a rate decayed to almost nothing would
		// overflow a Duration.
		if gaps := holdArrivals / q.offerRate; gaps < h.Seconds() {
			h = time.Duration(gaps * float64(time.Second))
		}
	}
	return max(h, q.target)
}

// growthRate is how fast the queue has been growing, per second, over
// rateTau: requests finding no worker with room, less the larger of those
// let go from the queue and those finished.
func (q *queueControl) growthRate() float64 {
	return q.offerRate - max(q.leftRate, q.finishRate)
}

// refuse counts a request answered 503.
func (q *queueControl) refuse(now time.Time) {
	q.advance(now)
	q.slots[q.cur].refused++
}

// update moves the overload state to now and reports whether the queue is
// overloaded, and whether it became so just now.
func (q *queueControl) update(now time.Time, queued, reserve int) (overloaded, entered bool) {
	if q.target <= 0 {
		return false, false
	}
	q.advance(now)
	offered, gone := q.window()
	switch {
	case !q.overloaded:
		// The window's slots start at their own boundaries: a burst
		// that came just before one stays in the window until a slot
		// after the interval, so standing must last that slot too.
		standing := !q.nonEmptySince.IsZero() && now.Sub(q.nonEmptySince) >= q.interval+q.interval/windowSlots
		// Before the first stream has ended, nothing says how soon
		// slots free: a burst whose arrivals spread over more than an
		// interval (fifty clients connecting on a busy machine) would
		// look like growth to a gateway that has served nothing yet.
		// The queue timeout bounds the waits until then, one service
		// time at most.
		if standing && offered > gone+reserve && q.service > 0 {
			q.overloaded, q.overloadedAt = true, now
			q.overloads++
			return true, true
		}
	case offered <= gone && q.growthRate()*q.interval.Seconds() <= calmGrowth,
		q.quietFor(now) >= q.quietEnd():
		// Over one interval, a lull between random arrivals looks like
		// the end (at three times capacity, some 6 % of intervals see
		// no more come than leave), and each onset after costs the
		// requests that queued while it was told; over the second of
		// the rates it does not. Nothing finding the workers full for
		// a while (quietEnd) is the end at once: the load fell below
		// capacity, whatever the rates still remember.
		q.overloaded = false
		q.overloadedFor += now.Sub(q.overloadedAt)
	}
	return q.overloaded, false
}

// wait is how long a request that finds position requests ahead of it may
// wait, given timeout, the queue timeout, and f, when the pool expects a
// slot to free for it; 0 means it is refused at once. Call update first.
func (q *queueControl) wait(position, reserve int, timeout time.Duration, f slotForecast) time.Duration {
	if !q.overloaded {
		return timeout
	}
	if f.known && q.service > 0 {
		if f.in > q.hold() {
			return 0
		}
		// Held, it waits its turn: refused after a wait, it would be a
		// slow 503, and a forecast that was wrong (a stream longer
		// than the others) makes the next one see that stream due now.
		return timeout
	}
	if position < reserve {
		return timeout
	}
	// It is served at the grant after those ahead of it have theirs
	// (seconds, compared as floats: a rate decayed to almost nothing
	// would overflow a Duration).
	if q.grantRate <= 0 || float64(position+1)/q.grantRate > q.target.Seconds() {
		return 0
	}
	return min(q.target, timeout)
}

// retryAfter is the delay to suggest to a refused client: the time the
// workers, at the rate they have been taking requests, need to serve the
// requests waiting and those refused over the last second, so that a client
// that comes back then finds room; between lo and hi, and lo before any
// request was routed.
func (q *queueControl) retryAfter(now time.Time, waiting int, lo, hi time.Duration) time.Duration {
	q.advance(now)
	if q.grantRate <= 0 {
		return lo
	}
	secs := (float64(waiting) + q.refusalRate) / q.grantRate
	switch {
	case secs >= hi.Seconds():
		return hi
	case secs <= lo.Seconds():
		return lo
	}
	return time.Duration(secs * float64(time.Second))
}

// overloadedTime is the time spent overloaded up to now, and whether the
// queue is now.
func (q *queueControl) overloadedTime(now time.Time) (time.Duration, bool) {
	if q.overloaded {
		return q.overloadedFor + now.Sub(q.overloadedAt), true
	}
	return q.overloadedFor, false
}
