package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// errAborted is what acquire returns when its abort channel closes; the
// queue turns it into the error it was aborted with.
var errAborted = errors.New("stream: acquire aborted")

// Budget is a byte budget shared by many queues (a process-wide cap), with
// high and low watermarks for an admission gate.
//
// The watermarks have hysteresis: [Budget.High] turns true when the bytes in
// use reach high and stays true until they fall to low. Without the gap, a
// gate at a single mark would admit and refuse on alternate bytes and start
// handlers the moment a few bytes drained, only to fill the budget again.
//
// A nil *Budget is valid and means no budget: it never blocks, counts
// nothing and is never High.
type Budget struct {
	limit int64 // immutable after NewBudget

	mu        sync.Mutex
	high, low int64 // may change at run time (SetWatermarks)
	used      int64
	isHigh    bool
	// wake is closed (and forgotten) when bytes are released, waking every
	// goroutine blocked in Acquire or WaitLow. It is made only when some
	// goroutine waits, so releasing without waiters allocates nothing.
	wake chan struct{}

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
	case high == 0 || b.used <= low:
		b.isHigh = false
	case b.used >= high:
		b.isHigh = true
	}
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
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
	return b.acquire(ctx, n, nil)
}

// acquire is Acquire that also gives up, with errAborted, when abort is
// closed, so that Queue.Abort wakes a Write blocked on the budget.
func (b *Budget) acquire(ctx context.Context, n int64, abort <-chan struct{}) error {
	if b == nil || n <= 0 {
		return nil
	}
	b.mu.Lock()
	for !b.fitsLocked(n) {
		wake := b.waitLocked()
		b.mu.Unlock()
		if b.onWait != nil {
			b.onWait()
		}
		select {
		case <-wake:
		case <-abort:
			return errAborted
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	b.takeLocked(n)
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
	if !b.fitsLocked(n) {
		return false
	}
	b.takeLocked(n)
	return true
}

func (b *Budget) fitsLocked(n int64) bool {
	return b.limit == 0 || b.used == 0 || b.used+n <= b.limit
}

func (b *Budget) takeLocked(n int64) {
	b.used += n
	if b.high > 0 && b.used >= b.high {
		b.isHigh = true
	}
}

// waitLocked returns the channel that the next Release closes.
func (b *Budget) waitLocked() <-chan struct{} {
	if b.wake == nil {
		b.wake = make(chan struct{})
	}
	return b.wake
}

// Release gives back n bytes taken by Acquire or TryAcquire and wakes the
// goroutines waiting for room or for the low watermark. Releasing more than
// is in use is a bug in the caller's accounting, and panics, as
// sync.WaitGroup does for a negative counter: carrying on would silently
// lift the cap.
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
	if b.isHigh && b.used <= b.low {
		b.isHigh = false
	}
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	b.mu.Unlock()
}

// Used returns the bytes in use: acquired and not yet released.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// High reports whether the budget is above its watermarks: true from the
// moment the bytes in use reach high until they fall to low or below. It is
// always false when high is 0.
func (b *Budget) High() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.isHigh
}

// WaitLow returns at once if the budget is not High; otherwise it blocks
// until the bytes in use fall to the low watermark or below, or until ctx
// ends, and then returns ctx.Err().
func (b *Budget) WaitLow(ctx context.Context) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	for b.isHigh {
		wake := b.waitLocked()
		b.mu.Unlock()
		if b.onWait != nil {
			b.onWait()
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
	}
	b.mu.Unlock()
	return nil
}
