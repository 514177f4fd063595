package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// errAborted is what acquire returns when its abort channel closes; the
// queue turns it into the error it was aborted with.
var errAborted = errors.New("stream: acquire aborted")

// Budget is a byte budget shared by many queues (a process-wide cap), with
// high and low watermarks for an admission gate.
//
// It keeps two counts. Used is every byte the queues hold, queued or on its
// way to the wire: that is the memory, and Acquire caps it. The backlog is
// what the writers could send now (see [Budget.AddBacklog]): bytes queued on
// a stream whose peer granted no credit are memory, but no work for the
// writer, and a gate that counted them would stop admitting anything once
// enough clients were slow.
//
// The cap has one exception, so that a slow stream can never stall a fast
// one: a queue that holds no bytes of the budget may always take one chunk
// ([ChunkSize]), even at the limit. Every stream can then always make
// progress, and the memory held stays within limit + ChunkSize × the queues
// holding bytes (at most one per open stream).
//
// The watermarks have hysteresis and follow the backlog: [Budget.High] turns
// true when the backlog reaches high and stays true until it falls to low.
// Without the gap, a gate at a single mark would admit and refuse on
// alternate bytes and start handlers the moment a few bytes drained, only to
// fill the budget again.
//
// A nil *Budget is valid and means no budget: it never blocks, counts
// nothing and is never High.
type Budget struct {
	limit int64 // immutable after NewBudget
	// holders counts the queues holding bytes of the budget, for share.
	// Queues change it outside mu, on a holding's first byte and its last.
	holders atomic.Int64

	mu        sync.Mutex
	high, low int64 // may change at run time (SetWatermarks)
	used      int64
	backlog   int64
	isHigh    bool
	// room is closed (and forgotten) when bytes are released, waking every
	// goroutine blocked in Acquire; lowered likewise when the high state
	// ends, waking WaitLow. Each is made only when some goroutine waits, so
	// that releasing without waiters allocates nothing, and kept apart so
	// that neither kind of waiter is woken for the other's change.
	room, lowered chan struct{}

	onWait func() // test hook: a goroutine is about to block
}

// NewBudget returns a budget of limit bytes with the watermarks high and low.
//
// limit 0 means no cap (Acquire never blocks); high 0 means no watermark
// state (High is always false). NewBudget never panics: it clamps bad values
// so that 0 <= low <= high and, when there is a cap, high <= limit; a
// negative value counts as 0. Use [ValidateBudget] to reject such settings
// with an error instead.
func NewBudget(limit, high, low int64) *Budget {
	limit, high, low = max(limit, 0), max(high, 0), max(low, 0)
	if limit > 0 && high > limit {
		high = limit
	}
	low = min(low, high)
	return &Budget{limit: limit, high: high, low: low}
}

// ValidateBudget reports, as an error naming the values, whether NewBudget
// would have to clamp limit, high or low. Configuration code calls it so that
// a bad setting is refused at start-up rather than silently changed.
func ValidateBudget(limit, high, low int64) error {
	switch {
	case limit < 0 || high < 0 || low < 0:
		return fmt.Errorf("stream: budget limit %d, high %d, low %d: none may be negative (0 means no cap, or no watermarks)", limit, high, low)
	case limit > 0 && high > limit:
		return fmt.Errorf("stream: budget high watermark %d is above the limit %d: lower it, or raise the limit", high, limit)
	case low > high:
		return fmt.Errorf("stream: budget low watermark %d is above the high watermark %d: it must be at most high (and is ignored when high is 0)", low, high)
	}
	return nil
}

// Limits returns the limit and watermarks in effect, after clamping.
func (b *Budget) Limits() (limit, high, low int64) {
	if b == nil {
		return 0, 0, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit, b.high, b.low
}

// SetWatermarks changes the watermarks while the budget is in use (live
// tuning). It refuses, with ValidateBudget's error, values NewBudget would
// have to clamp. The high state is re-evaluated at once, and goroutines in
// WaitLow are woken so that a lowered bar lets them go.
func (b *Budget) SetWatermarks(high, low int64) error {
	if b == nil {
		return errors.New("stream: SetWatermarks on a nil budget")
	}
	if err := ValidateBudget(b.limit, high, low); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.high, b.low = high, low
	switch {
	case high == 0 || b.backlog <= low:
		b.isHigh = false
	case b.backlog >= high:
		b.isHigh = true
	}
	wakeLocked(&b.lowered)
	return nil
}

// Acquire takes n bytes from the budget. It blocks while used+n would exceed
// the limit, except when nothing is in use, so that one write larger than the
// cap cannot deadlock; it returns ctx.Err() if ctx ends first.
//
// Waiters are not served in order: when bytes are released every waiter
// retries, and the first whose bytes fit wins. Queues acquire at most
// [ChunkSize] at a time, so a large request is not starved by small ones.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	return b.acquire(ctx, n, nil, nil)
}

// acquire is Acquire for queue q (nil for none). It also gives up, with
// errAborted, when abort is closed, so that Queue.Abort wakes a Write
// blocked on the budget; it lets q take a chunk over the limit when q holds
// nothing (the progress guarantee); and if it must wait, it tells q's wait
// hook before and after.
func (b *Budget) acquire(ctx context.Context, n int64, q *Queue, abort <-chan struct{}) error {
	if b == nil || n <= 0 {
		return nil
	}
	b.mu.Lock()
	if b.fitsLocked(n, q) {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	if q != nil {
		q.startWait()
		defer q.endWait()
	}
	return b.acquireSlowly(ctx, n, q, abort)
}

// acquireSlowly is acquire once it has found no room.
func (b *Budget) acquireSlowly(ctx context.Context, n int64, q *Queue, abort <-chan struct{}) error {
	b.mu.Lock()
	for !b.fitsLocked(n, q) {
		room := waitChanLocked(&b.room)
		b.mu.Unlock()
		if b.onWait != nil {
			b.onWait()
		}
		select {
		case <-room:
		case <-abort:
			return errAborted
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	b.used += n
	b.mu.Unlock()
	return nil
}

// TryAcquire takes n bytes if Acquire would not block, and reports whether
// it did.
func (b *Budget) TryAcquire(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.fitsLocked(n, nil) {
		return false
	}
	b.used += n
	return true
}

// fitsLocked reports whether n more bytes may be taken now, for queue q if
// not nil. A queue holding nothing may take a chunk whatever the others
// hold: only its own producer adds to what it holds, so the check stays
// true until this producer takes the bytes.
func (b *Budget) fitsLocked(n int64, q *Queue) bool {
	return b.limit == 0 || b.used == 0 || b.used+n <= b.limit ||
		q != nil && n <= ChunkSize && q.held.Load() == 0
}

// share is the most a queue of at most most bytes may queue while other
// queues hold bytes of the budget too: an equal part of the limit, at least
// a chunk. A queue alone, or a budget without a cap, keeps most.
//
// Without it, the first limit/most slow streams would take the whole
// budget and every other stream, fast or not, would move a chunk at a time
// on the progress guarantee; with it, streams that drain fast can queue as
// much as the slow ones hold.
func (b *Budget) share(most int) int {
	if b == nil || b.limit == 0 {
		return most
	}
	n := b.holders.Load()
	if n <= 1 {
		return most
	}
	return int(min(max(b.limit/n, ChunkSize), int64(most)))
}

// waitChanLocked returns the channel *ch, which the next wakeLocked on it
// closes, making it if need be.
func waitChanLocked(ch *chan struct{}) <-chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{})
	}
	return *ch
}

// wakeLocked wakes every goroutine waiting on *ch.
func wakeLocked(ch *chan struct{}) {
	if *ch != nil {
		close(*ch)
		*ch = nil
	}
}

// Release gives back n bytes taken by Acquire or TryAcquire and wakes the
// goroutines waiting for room. Releasing more than is in use is a bug in the
// caller's accounting, and panics, as sync.WaitGroup does for a negative
// counter: carrying on would silently lift the cap.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	if n > b.used {
		used := b.used
		b.mu.Unlock()
		panic(fmt.Sprintf("stream: Budget.Release(%d) with only %d bytes in use", n, used))
	}
	b.used -= n
	wakeLocked(&b.room)
	b.mu.Unlock()
}

// Used returns the bytes in use: acquired and not yet released, whether or
// not they can be sent. It is the memory the budget accounts for.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// AddBacklog adds delta (negative to subtract) to the backlog: the bytes the
// writers could send now. A connection's writer owns its share of it,
// reports each change, and takes it all back when it stops; several writers
// may share one budget. The watermarks follow the backlog, and a fall to the
// low watermark wakes WaitLow.
//
// A backlog below zero is a bug in the caller's accounting, and panics, as
// Release does.
func (b *Budget) AddBacklog(delta int64) {
	if b == nil || delta == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.backlog+delta < 0 {
		panic(fmt.Sprintf("stream: Budget.AddBacklog(%d) with a backlog of only %d bytes", delta, b.backlog))
	}
	b.backlog += delta
	switch {
	case b.high > 0 && b.backlog >= b.high:
		b.isHigh = true
	case b.isHigh && b.backlog <= b.low:
		b.isHigh = false
		wakeLocked(&b.lowered)
	}
}

// Backlog returns the bytes the writers last reported they could send now.
func (b *Budget) Backlog() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.backlog
}

// High reports whether the backlog is above the watermarks: true from the
// moment it reaches high until it falls to low or below. It is always false
// when high is 0.
func (b *Budget) High() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.isHigh
}

// WaitLow returns at once if the budget is not High; otherwise it blocks
// until the backlog falls to the low watermark or below, or until ctx ends,
// and then returns ctx.Err().
func (b *Budget) WaitLow(ctx context.Context) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	for b.isHigh {
		lowered := waitChanLocked(&b.lowered)
		b.mu.Unlock()
		if b.onWait != nil {
			b.onWait()
		}
		select {
		case <-lowered:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	b.mu.Unlock()
	return nil
}
