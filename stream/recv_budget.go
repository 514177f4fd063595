package stream

import "sync/atomic"

// RecvBudget is a byte budget shared by receive windows (see
// [RecvWindow.InitShared]): the credit they grant beyond their initial
// size comes out of it, so that a receiver with many streams open buffers
// about the budget in all rather than a full window for each.
//
// Each window's target size is its fair share, the limit divided by the
// windows open, clamped to the bounds the window was given. A window moves
// toward its target only as its reader consumes data: it grows by granting
// more credit than was consumed, and only by what the budget still has
// room for; it shrinks by withholding credit. Windows start at their
// initial size whatever the budget holds, since the peer sends that much
// unasked. So the credit granted across the windows, and hence the bytes
// buffered under them, stays within the limit plus the initial size of
// each window opened since the last growth: at most the limit plus
// windows × initial.
//
// Its methods are safe for concurrent use: every window's reader and
// consumer update it, so it is a few atomic words and no lock.
type RecvBudget struct {
	limit    int64
	granted  atomic.Int64 // credit granted and data buffered under it, across windows
	buffered atomic.Int64 // received and not yet consumed
	windows  atomic.Int64 // windows open: not yet ended
}

// NewRecvBudget returns a budget of limit bytes; a limit below 1 means 1,
// which leaves every window at its initial size.
func NewRecvBudget(limit int64) *RecvBudget {
	return &RecvBudget{limit: max(limit, 1)}
}

// Limit returns the budget in bytes.
func (b *RecvBudget) Limit() int64 { return b.limit }

// Granted returns the bytes the windows sharing the budget may hold: the
// credit they have granted and not seen used, plus the data received and
// not consumed. It may exceed the limit by the windows' initial sizes.
func (b *RecvBudget) Granted() int64 { return b.granted.Load() }

// Buffered returns the bytes received under the windows sharing the budget
// and not yet consumed.
func (b *RecvBudget) Buffered() int64 { return b.buffered.Load() }

// Windows returns how many windows share the budget now (opened and not
// yet ended).
func (b *RecvBudget) Windows() int { return int(b.windows.Load()) }

// Target returns the size a window with the given bounds moves toward now:
// the limit divided by the windows open (the whole limit when none is),
// clamped to [floor, ceiling]. floor wins over a smaller ceiling.
func (b *RecvBudget) Target(floor, ceiling int) int {
	share := b.limit / max(b.windows.Load(), 1)
	return max(floor, int(min(share, int64(ceiling))))
}

// open counts a window of initial bytes in.
func (b *RecvBudget) open(initial int) {
	b.windows.Add(1)
	b.granted.Add(int64(initial))
}

// reserve takes up to want bytes of room for a window to grow by and
// returns how many it took: none when the windows already hold the limit.
func (b *RecvBudget) reserve(want int) int {
	for {
		cur := b.granted.Load()
		room := b.limit - cur
		if room <= 0 || want <= 0 {
			return 0
		}
		take := min(int64(want), room)
		if b.granted.CompareAndSwap(cur, cur+take) {
			return int(take)
		}
	}
}
