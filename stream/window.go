package stream

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// MaxWindow is the most credit a window may hold, 2^31-1 bytes, as in
// HTTP/2 (RFC 9113, section 6.9.1). A peer that grants more is misbehaving;
// the cap also keeps every credit value within an int32.
const MaxWindow = math.MaxInt32

// SendWindow is the credit the peer allows us to send on one stream.
//
// Take is called by the writer goroutine and Add by the reader goroutine, on
// every frame, so the window is a single atomic word: no lock for the writer
// to wait on while the reader is busy.
type SendWindow struct {
	n atomic.Int32
}

// NewSendWindow returns a window holding initial bytes of credit, clamped to
// [0, MaxWindow].
func NewSendWindow(initial int) *SendWindow {
	w := new(SendWindow)
	w.Init(initial)
	return w
}

// Init sets a zero SendWindow up as NewSendWindow does, for a window
// embedded in a larger struct. Call it before the window is shared.
func (w *SendWindow) Init(initial int) { w.n.Store(int32(min(max(initial, 0), MaxWindow))) }

// Available returns the credit left: the bytes we may send now.
func (w *SendWindow) Available() int { return int(w.n.Load()) }

// Take takes min(n, Available()) bytes of credit and returns that amount;
// 0 when n < 1 or no credit is left.
func (w *SendWindow) Take(n int) int {
	if n < 1 {
		return 0
	}
	for {
		cur := w.n.Load()
		if cur <= 0 {
			return 0
		}
		t := int32(min(n, int(cur)))
		if w.n.CompareAndSwap(cur, cur-t) {
			return int(t)
		}
	}
}

// Refund gives back n bytes of credit that Take took and the caller did not
// spend, as a writer does that takes credit before it knows how much it
// will send. It never raises the credit above [MaxWindow].
func (w *SendWindow) Refund(n int) {
	if n < 1 {
		return
	}
	for {
		cur := w.n.Load()
		next := int32(min(int64(cur)+int64(n), MaxWindow))
		if w.n.CompareAndSwap(cur, next) {
			return
		}
	}
}

// Add adds n bytes of credit that the peer granted. It returns an error,
// naming the values, if n < 1 or the credit would exceed [MaxWindow]: both
// mean the peer is misbehaving, and the window is left unchanged.
func (w *SendWindow) Add(n int) error {
	if n < 1 {
		return fmt.Errorf("stream: peer granted a credit increment of %d bytes; it must be at least 1", n)
	}
	for {
		cur := w.n.Load()
		if int64(cur)+int64(n) > MaxWindow {
			return fmt.Errorf("stream: peer granted %d bytes on top of %d bytes of credit, which exceeds the maximum window of %d bytes", n, cur, MaxWindow)
		}
		if w.n.CompareAndSwap(cur, cur+int32(n)) {
			return nil
		}
	}
}

// RecvWindow is the receiver's side of one stream's credit: how much the
// peer may still send, and how much consumed data has yet to be granted
// back.
//
// Receive is called by the reader goroutine and Consumed by the application
// reading the stream, so a mutex keeps the counters consistent with one
// another. The invariant, until End, is credit + buffered + unreported ==
// size: the peer can never have more than size bytes in flight or buffered
// here.
//
// The size may move toward a target (see SetTarget and InitShared), but
// only when Consumed grants credit: it grows by granting more than was
// consumed, and shrinks by granting less. Credit once granted is never
// taken back, so the invariant holds whatever the target does.
type RecvWindow struct {
	mu         sync.Mutex
	size       int
	credit     int // bytes the peer may still send
	buffered   int // received and not yet consumed
	unreported int // consumed and not yet granted back
	withheld   int // never granted yet: see Withhold

	// floor and ceiling bound the size the window moves toward: the
	// ceiling alone without a budget, the budget's share within both with
	// one.
	floor, ceiling int
	budget         *RecvBudget
	ended          bool // End or Drop: no more credit, and out of the budget's count
}

// NewRecvWindow returns a window of size bytes, all of them granted to the
// peer. size is clamped to [1, MaxWindow]: a window of 0 could never carry a
// byte.
func NewRecvWindow(size int) *RecvWindow {
	w := new(RecvWindow)
	w.Init(size)
	return w
}

// Init sets a zero RecvWindow up as NewRecvWindow does, for a window
// embedded in a larger struct. Call it before the window is shared.
func (w *RecvWindow) Init(size int) {
	size = clampWindow(size)
	w.size, w.credit = size, size
	w.floor, w.ceiling = size, size
}

// InitShared sets a zero RecvWindow up with initial bytes granted to the
// peer, to grow to its share of b (see [RecvBudget.Target]) within
// [initial, ceiling]. A nil b lets it grow to ceiling. The window counts
// in b until End or Drop. Call it before the window is shared.
func (w *RecvWindow) InitShared(initial, ceiling int, b *RecvBudget) {
	w.Init(initial)
	w.ceiling = max(clampWindow(ceiling), w.size)
	w.budget = b
	if b != nil {
		b.open(w.size)
	}
}

func clampWindow(n int) int { return min(max(n, 1), MaxWindow) }

// SetTarget sets the size the window moves toward, clamped to
// [1, MaxWindow]; with a budget, the most it grows to. The window reaches
// it at the next grant, as far as the credit already granted and the
// budget allow.
func (w *RecvWindow) SetTarget(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ceiling = clampWindow(n)
	w.floor = min(w.floor, w.ceiling)
}

// Size returns the window size: the most bytes the peer may have sent and
// the application not yet consumed.
func (w *RecvWindow) Size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// Credit returns the bytes the peer may still send before more credit is
// granted back.
func (w *RecvWindow) Credit() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.credit
}

// Buffered returns the bytes received and not yet consumed: what the
// application holds of the peer's data under this window.
func (w *RecvWindow) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buffered
}

// Receive records that the peer sent n bytes. It returns an error, naming n
// and the credit left, if n is negative or exceeds the credit outstanding:
// that is a protocol violation, and the window is left unchanged.
//
// After Drop (or End) the bytes are still checked against the credit but
// not counted as buffered: they can only be data that crossed a reset,
// which the receiver discards.
func (w *RecvWindow) Receive(n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n < 0 || n > w.credit {
		return fmt.Errorf("stream: peer sent %d bytes with only %d bytes of credit left (window %d)", n, w.credit, w.size)
	}
	w.credit -= n
	if w.ended {
		return nil
	}
	w.buffered += n
	if w.budget != nil {
		w.budget.buffered.Add(int64(n))
	}
	return nil
}

// Consumed records that the application consumed n bytes and returns how
// much credit to grant back to the peer now.
//
// Grants are batched so that credit updates do not flood the connection
// with a frame per read: Consumed returns 0 until the consumed bytes not yet
// granted reach the threshold of Size()/4 (at least 1 byte), then returns
// all of them and starts counting again. Batching never stalls the peer:
// with less than a quarter of the window unreported, once the application
// has consumed what it was sent the peer still holds at least three quarters
// of the window in credit.
//
// A grant is also when the size moves toward its target: a window below it
// adds the difference (as far as the budget has room), one above it keeps
// back up to the difference from what was consumed. A small stream that
// never consumes a quarter of its window never grows.
//
// n is capped at the bytes received and not yet consumed, so that a caller's
// miscount can never grant the peer more than Size() in total. After End,
// Consumed only gives the bytes back to the budget and grants nothing.
func (w *RecvWindow) Consumed(n int) (grant int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n = min(n, w.buffered)
	if n <= 0 {
		return 0
	}
	w.buffered -= n
	if w.budget != nil {
		w.budget.buffered.Add(int64(-n))
	}
	if w.ended {
		w.size -= n
		w.release(n)
		return 0
	}
	w.unreported += n
	if w.unreported < max(w.size/4, 1) {
		return 0
	}
	if t := w.targetLocked(); w.size > t {
		cut := min(w.unreported, w.size-t)
		w.unreported -= cut
		w.size -= cut
		w.release(cut)
	} else if w.size < t {
		// Grow at most by twice what was consumed, so that a window grows
		// as fast as its reader proves it can take the data: a fast one
		// reaches the full window within a few of them, while a slow
		// client's cannot take a large share of the budget in the moments
		// before other streams open and claim theirs.
		add := min(t-w.size, 2*w.unreported)
		if w.budget != nil {
			add = w.budget.reserve(add)
		}
		w.size += add
		w.credit += add
		grant = add
	}
	grant += w.unreported
	w.credit += w.unreported
	w.unreported = 0
	return grant
}

// targetLocked is the size the window moves toward now. w.mu must be held.
func (w *RecvWindow) targetLocked() int {
	if w.budget == nil {
		return w.ceiling
	}
	return w.budget.Target(w.floor, w.ceiling)
}

// Target returns the size the window moves toward now (see SetTarget and
// InitShared).
func (w *RecvWindow) Target() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.targetLocked()
}

// release gives n bytes back to the budget, if there is one.
func (w *RecvWindow) release(n int) {
	if w.budget != nil && n > 0 {
		w.budget.granted.Add(int64(-n))
	}
}

// End records that the peer sends nothing more: the window grants no more
// credit, Size reports only what is still buffered, it leaves its budget's count of windows, and gives back all it held
// but the data still buffered, which goes back as it is consumed. Calls
// after the first do nothing.
func (w *RecvWindow) End() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.endLocked()
}

func (w *RecvWindow) endLocked() {
	if w.ended {
		return
	}
	w.ended = true
	if w.budget != nil {
		w.budget.windows.Add(-1)
	}
	// The credit stays, so that data the peer sent before it learnt of
	// the end is not taken for a violation (see Receive).
	w.release(w.size - w.buffered)
	w.unreported, w.withheld = 0, 0
	w.size = w.buffered
}

// Withhold keeps back all the credit of a window that has not received
// anything yet, so that the peer may send nothing until Release grants it:
// a receiver that wants the peer's data only once its application asks for
// it. The invariant then counts it: credit + buffered + unreported +
// withheld == size.
func (w *RecvWindow) Withhold() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.withheld += w.credit
	w.credit = 0
}

// Release grants what Withhold kept back, and returns it: the credit to
// send the peer now. It returns 0 once called, and after End or Drop.
func (w *RecvWindow) Release() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.withheld
	w.withheld = 0
	if w.ended {
		return 0
	}
	w.credit += g
	return g
}

// Drop ends the window as End does, and also gives back the data still
// buffered, which the application will not consume: it was discarded, or
// is no longer the budget's concern (the stream was reset).
func (w *RecvWindow) Drop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.endLocked()
	if w.budget != nil {
		w.budget.buffered.Add(int64(-w.buffered))
	}
	w.release(w.buffered)
	w.buffered, w.size = 0, 0
}
