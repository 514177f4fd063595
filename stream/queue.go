package stream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by [Queue.Write] after [Queue.CloseWrite].
var ErrClosed = errors.New("stream: queue closed")

// ErrAborted is what a [Queue.Write] returns after [Queue.Abort] was called
// with a nil error, so that an abort is never mistaken for a clean close.
var ErrAborted = errors.New("stream: queue aborted")

// Queue is a bounded FIFO of bytes between ONE producer goroutine (a
// handler's Write) and ONE consumer (the connection's writer goroutine).
//
// Write copies into pooled chunks of [ChunkSize] bytes (or [LargeChunkSize]
// once the queue grows them, see [Queue.GrowChunks]); Pop hands out slices
// of those chunks without copying, so steady-state streaming
// allocates nothing per chunk. The bound is what turns a slow client into
// backpressure on the handler instead of memory: Write blocks while the
// queue holds limit bytes that have not been popped.
//
// The zero Queue is not usable; call [NewQueue] or [Queue.Init].
type Queue struct {
	limit  int
	budget *Budget
	notify func()

	mu       sync.Mutex
	chunks   []*chunk // FIFO; chunks[head:] are live, the last is the tail
	head     int
	queued   atomic.Int64 // bytes written and not yet popped; written under mu
	closed   bool         // CloseWrite or Abort was called
	abortErr error        // non-nil once aborted
	waiting  bool         // the producer is blocked for space
	// growAfter is how many bytes the queue carries in ChunkSize chunks
	// before it takes LargeChunkSize ones (0: never); carried counts them.
	growAfter int64
	carried   int64
	// filling is the chunk Fill is reading into outside the lock, which
	// Pop must leave in the queue even when it has drained it.
	filling *chunk

	// Both made under mu when first needed (see waitChansLocked), so that
	// a queue that never blocks its producer (a small response, a request
	// without a body) costs no channels.
	space   chan struct{} // a token per wake-up of a producer blocked for space
	aborted chan struct{} // closed by Abort: wakes a producer blocked anywhere

	// held is the budget bytes the queue holds: queued, or popped and not
	// yet released. Its producer adds to it and releases take from it, on
	// any goroutine; the budget reads it for the progress guarantee.
	held atomic.Int64
	// waiter, if set, is told when the producer starts and stops waiting
	// (see SetWaiter). Owned by the producer.
	waiter Waiter
}

// NewQueue returns a queue that holds at most limit bytes that have been
// written and not yet popped. A limit below 1 means [ChunkSize].
//
// budget is an optional process-wide cap shared with other queues (nil means
// none): every byte written is acquired from it, and given back only when the
// popped [Segment] is released, since the bytes occupy memory until they are
// on the wire, not merely until they leave the queue. A queue that holds
// none of the budget's bytes may take one chunk even from a full budget, so
// that queues whose bytes cannot leave (slow clients) never stop the others.
func NewQueue(limit int, budget *Budget) *Queue {
	q := new(Queue)
	q.Init(limit, budget)
	return q
}

// Init readies a zero Queue as NewQueue does, for a queue embedded in a
// larger struct so that it costs no allocation of its own. Call it once,
// before the queue is used.
func (q *Queue) Init(limit int, budget *Budget) {
	if limit < 1 {
		limit = ChunkSize
	}
	q.limit = limit
	q.budget = budget
	q.space = nil
	q.aborted = nil
}

// spaceLocked returns the channel a producer blocked for space waits on,
// making it if need be. q.mu must be held.
func (q *Queue) spaceLocked() chan struct{} {
	if q.space == nil {
		q.space = make(chan struct{}, 1)
	}
	return q.space
}

// abortedLocked returns the channel Abort closes, making it if need be
// (closed already if the queue was aborted). q.mu must be held.
func (q *Queue) abortedLocked() chan struct{} {
	if q.aborted == nil {
		q.aborted = make(chan struct{})
		if q.abortErr != nil {
			close(q.aborted)
		}
	}
	return q.aborted
}

// SetNotify sets fn to be called when data is added to a queue that the
// consumer may have seen empty, and on CloseWrite and Abort: the three
// moments when a consumer that went idle has new work. ipc uses it to wake
// its writer goroutine.
//
// fn is called without q's lock held, from the goroutine that called Write,
// CloseWrite or Abort; it must not block. Set it before the queue is used.
func (q *Queue) SetNotify(fn func()) { q.notify = fn }

// GrowChunks makes the queue take [LargeChunkSize] chunks once more than
// after bytes have gone through it. A receive queue whose consumer writes
// popped bytes straight to a socket uses it: a small response never ties up
// a large chunk, and a large one is handed out in runs of up to 1 MiB that
// need no gathering copy. Call it before the queue is used; after < 1 means
// never (the default). It may be called at any time; it affects the chunks
// taken from then on.
//
// Memory stays bounded by the limit plus two large chunks: the part of the
// head chunk already popped (freed when the chunk is) and the part of the
// tail chunk not yet written. A chunk that Pop drains is dropped at once,
// so a stream that goes quiet holds none.
func (q *Queue) GrowChunks(after int) {
	q.mu.Lock()
	q.growAfter = int64(after)
	q.mu.Unlock()
}

// newChunkLocked returns an empty chunk of the size the queue has grown to
// and appends it to the FIFO. q.mu must be held.
func (q *Queue) newChunkLocked() *chunk {
	c := getChunk(q.growAfter > 0 && q.carried >= q.growAfter)
	q.pushChunkLocked(c)
	return c
}

// Waiter is told when a queue's producer waits: QueueWait(true) just
// before a Write blocks, for queue space or for room in the budget, and
// QueueWait(false) when that wait ends (the Write goes on, or returns). It
// is an interface rather than a func so that a type with other work to do
// can be the hook without a closure made for each queue.
type Waiter interface{ QueueWait(waiting bool) }

// SetWaiter sets w to be told, on the producer's goroutine, of every wait
// of a Write; a Write that never blocks never tells it. Set it before the
// queue is used, or from the producer's goroutine between Writes; nil
// removes it.
func (q *Queue) SetWaiter(w Waiter) { q.waiter = w }

// SetWaitHook is SetWaiter with a func: fn(true) before a wait, fn(false)
// after it; nil removes it.
func (q *Queue) SetWaitHook(fn func(waiting bool)) {
	if fn == nil {
		q.waiter = nil
		return
	}
	q.waiter = waitFunc(fn)
}

// waitFunc makes a func a Waiter.
type waitFunc func(waiting bool)

// QueueWait implements Waiter.
func (f waitFunc) QueueWait(waiting bool) { f(waiting) }

// startWait and endWait tell the waiter, if any, of a wait of the producer.
func (q *Queue) startWait() {
	if q.waiter != nil {
		q.waiter.QueueWait(true)
	}
}

func (q *Queue) endWait() {
	if q.waiter != nil {
		q.waiter.QueueWait(false)
	}
}

// hold counts n budget bytes the producer acquired as held by the queue.
func (q *Queue) hold(n int64) {
	if q.held.Add(n) == n {
		q.budget.holders.Add(1)
	}
}

// release gives n budget bytes held by the queue back to the budget: what
// it holds first, so that a Write woken by the budget finds it up to date.
func (q *Queue) release(n int64) {
	if n <= 0 {
		return
	}
	if q.held.Add(-n) == 0 {
		q.budget.holders.Add(-1)
	}
	q.budget.Release(n)
}

// capacity is the most the queue may hold before Write blocks: its limit,
// or less, its share of the budget, while other queues hold bytes of it.
func (q *Queue) capacity() int { return q.budget.share(q.limit) }

// Limit returns the most bytes the queue holds before Write blocks; while
// other queues hold bytes of its budget, Write may block sooner, at an
// equal share of the budget's limit (but never below a chunk).
func (q *Queue) Limit() int { return q.limit }

// Len returns the bytes queued and not yet popped. It takes no lock, so the
// writer may call it for every scheduling decision.
func (q *Queue) Len() int { return int(q.queued.Load()) }

// Write copies p into the queue. It blocks while the queue is full, until
// space is popped, the queue is aborted, or ctx ends; and likewise while the
// budget (if any) has no room. It returns how many bytes it queued and, if
// that is less than len(p), why: ctx.Err(), the error given to [Queue.Abort],
// or [ErrClosed] after [Queue.CloseWrite].
//
// Only one goroutine may call Write. A Write that can proceed without
// blocking does so even if ctx has already ended.
func (q *Queue) Write(ctx context.Context, p []byte) (n int, err error) {
	for {
		q.mu.Lock()
		if q.abortErr != nil {
			err = q.abortErr
			q.mu.Unlock()
			return n, err
		}
		if q.closed {
			q.mu.Unlock()
			return n, ErrClosed
		}
		if len(p) == 0 {
			q.mu.Unlock()
			return n, nil
		}
		space := q.capacity() - int(q.queued.Load())
		if space <= 0 {
			q.waiting = true
			spaceCh, abortCh := q.spaceLocked(), q.abortedLocked()
			q.mu.Unlock()
			q.startWait()
			select {
			case <-spaceCh:
			case <-abortCh:
			case <-ctx.Done():
				q.endWait()
				return n, ctx.Err()
			}
			q.endWait()
			continue
		}
		var abortCh chan struct{}
		if q.budget != nil {
			abortCh = q.abortedLocked()
		}
		q.mu.Unlock()

		// Copy at most a chunk per round, so the lock is never held for
		// longer than one 64 KiB copy and the budget is acquired in pieces
		// that other queues can interleave with.
		m := min(space, len(p), ChunkSize)
		if q.budget != nil {
			if err := q.budget.acquire(ctx, int64(m), q, abortCh); err != nil {
				if err == errAborted {
					continue // the top of the loop reports the abort error
				}
				return n, err
			}
			q.hold(int64(m))
		}

		q.mu.Lock()
		if q.closed {
			// Aborted (or closed by a misbehaving second goroutine)
			// while we waited for the budget: give the bytes back.
			q.mu.Unlock()
			if q.budget != nil {
				q.release(int64(m))
			}
			continue
		}
		wasEmpty := q.queued.Load() == 0
		q.appendLocked(p[:m])
		q.mu.Unlock()

		// Only the empty-to-non-empty transition needs a wake-up: a
		// consumer that saw the queue non-empty will come back for it.
		if wasEmpty && q.notify != nil {
			q.notify()
		}
		n += m
		p = p[m:]
	}
}

// appendLocked copies p into the tail chunk, and into a new chunk if the
// tail fills up. q.mu must be held.
func (q *Queue) appendLocked(p []byte) {
	for len(p) > 0 {
		var c *chunk
		if q.head < len(q.chunks) {
			c = q.chunks[len(q.chunks)-1]
		}
		if c == nil || c.w == len(c.buf) {
			c = q.newChunkLocked()
		}
		if c.w == c.r {
			// The chunk had nothing waiting: this write starts the clock.
			c.queuedAt = nanotime()
		}
		k := copy(c.buf[c.w:], p)
		c.w += k
		q.carried += int64(k)
		q.queued.Add(int64(k))
		p = p[k:]
	}
}

// pushChunkLocked appends c to the chunk FIFO, reusing its backing array so
// that steady-state streaming does not allocate.
func (q *Queue) pushChunkLocked(c *chunk) {
	if q.head > 0 && len(q.chunks) == cap(q.chunks) {
		k := copy(q.chunks, q.chunks[q.head:])
		clear(q.chunks[k:])
		q.chunks = q.chunks[:k]
		q.head = 0
	}
	q.chunks = append(q.chunks, c)
}

// popChunkLocked removes the head chunk from the FIFO without dropping its
// reference: the caller takes it over.
func (q *Queue) popChunkLocked() *chunk {
	c := q.chunks[q.head]
	q.chunks[q.head] = nil
	q.head++
	if q.head == len(q.chunks) {
		q.chunks = q.chunks[:0]
		q.head = 0
	}
	return c
}

// Pop takes up to max bytes from the head of the queue without blocking and
// without copying. The bytes returned are contiguous, within one chunk, so
// Pop may return fewer than max even when more is queued; it returns a zero
// Segment when the queue is empty or max < 1.
//
// The popped bytes leave the queue at once (waking a Write blocked for
// space) but stay in memory, and in the budget, until [Segment.Release].
// Only one goroutine may call Pop.
func (q *Queue) Pop(max int) Segment {
	if max < 1 {
		return Segment{}
	}
	q.mu.Lock()
	if q.queued.Load() == 0 {
		q.mu.Unlock()
		return Segment{}
	}
	c := q.chunks[q.head]
	k := min(c.w-c.r, max)
	seg := Segment{Bytes: c.buf[c.r : c.r+k : c.r+k], QueuedAt: fromNanotime(c.queuedAt), c: c, n: int64(k)}
	if q.budget != nil {
		seg.q = q
	}
	c.r += k
	q.queued.Add(-int64(k))

	// A chunk leaves the queue when it has been popped to its end, when it
	// is the last one of a closed queue, or when it is popped as far as it
	// was written: a stream that goes quiet (an upload trickling in, a
	// handler between two writes) must not pin a chunk for the few bytes it
	// sent, which for a thousand of them is 64 MiB; the next write takes a
	// fresh chunk from the pool. The segment then inherits the queue's
	// reference instead of taking one of its own.
	drained := c.r == c.w && c != q.filling
	if c.r == len(c.buf) || drained || (q.closed && q.queued.Load() == 0) {
		q.popChunkLocked()
	} else {
		c.refs.Add(1)
	}
	wake := q.waiting
	q.waiting = false
	var spaceCh chan struct{}
	if wake {
		spaceCh = q.spaceLocked()
	}
	q.mu.Unlock()

	if wake {
		select {
		case spaceCh <- struct{}{}:
		default: // a token is already pending
		}
	}
	return seg
}

// CloseWrite says the producer is done: Write afterwards returns
// [ErrClosed]. Bytes already queued stay poppable, and [Queue.Done] reports
// when the last of them has been popped. It is idempotent and calls the
// notify function, so that the consumer sends its end-of-stream.
func (q *Queue) CloseWrite() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	if q.queued.Load() == 0 {
		q.dropChunksLocked()
	}
	q.mu.Unlock()
	if q.notify != nil {
		q.notify()
	}
}

// Done reports whether CloseWrite was called and every byte has been
// popped: the consumer may now send its end-of-stream. An aborted queue is
// never Done, so that a truncated response is never ended as a complete one;
// see [Queue.Err].
func (q *Queue) Done() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed && q.abortErr == nil && q.queued.Load() == 0
}

// Err returns the error the queue was aborted with, or nil if it was not.
func (q *Queue) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.abortErr
}

// Abort drops everything queued (returning its chunks to the pool and its
// bytes to the budget) and makes a blocked Write, and any later one, return
// err ([ErrAborted] if err is nil). Segments already popped stay valid
// until released. Abort is idempotent: the first error sticks. It may be
// called from any goroutine, and calls the notify function.
func (q *Queue) Abort(err error) {
	if err == nil {
		err = ErrAborted
	}
	q.mu.Lock()
	if q.abortErr != nil {
		q.mu.Unlock()
		return
	}
	q.abortErr = err
	q.closed = true
	dropped := q.queued.Swap(0)
	q.dropChunksLocked()
	if q.aborted != nil {
		close(q.aborted)
	}
	q.mu.Unlock()

	if q.budget != nil {
		q.release(dropped)
	}
	if q.notify != nil {
		q.notify()
	}
}

// dropChunksLocked drops the queue's reference on every chunk it holds.
func (q *Queue) dropChunksLocked() {
	for q.head < len(q.chunks) {
		q.popChunkLocked().unref()
	}
}
