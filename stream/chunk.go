package stream

import (
	"sync"
	"sync/atomic"
	"time"
)

// ChunkSize is the size of the pooled buffers queues copy into (64 KiB).
//
// It is large enough that a queue's bookkeeping (one chunk per 64 KiB) costs
// nothing next to the copy, and it is the largest contiguous run of bytes a
// [Queue.Pop] hands out, unless the queue grows its chunks (see
// [Queue.GrowChunks]).
const ChunkSize = 64 << 10

// LargeChunkSize is the size of the chunks of a queue that has grown them
// (1 MiB): a consumer that writes what it pops to a socket then pays one
// system call per MiB without copying the bytes into a buffer of its own.
const LargeChunkSize = 1 << 20

// chunk is a pooled buffer plus the offsets of the queue that owns it.
//
// r and w are guarded by the owning queue's mutex. refs counts the holders
// of the buffer: the queue (while the chunk is in its list) and every
// popped, unreleased [Segment] that points into it. Counting references
// rather than trusting the last segment to be released last means a chunk
// can never go back to the pool while some segment still points into it,
// whatever order segments are released in.
type chunk struct {
	buf  []byte       // ChunkSize or LargeChunkSize bytes, never resliced
	r, w int          // next byte to pop, next byte to write
	refs atomic.Int32 // holders; the one that drops it to zero recycles it
	// queuedAt is when the chunk's first byte was written (monotonic
	// nanoseconds since process start), for the flush-lag figure.
	queuedAt int64
}

// chunkPool and largeChunkPool recycle chunks of each size. Putting a
// pointer into a sync.Pool does not allocate, so a steady stream of Write,
// Pop and Release allocates nothing.
var (
	chunkPool      = sync.Pool{New: func() any { return &chunk{buf: make([]byte, ChunkSize)} }}
	largeChunkPool = sync.Pool{New: func() any { return &chunk{buf: make([]byte, LargeChunkSize)} }}
)

// getChunk returns an empty chunk with one reference: the queue's. large
// selects LargeChunkSize over ChunkSize.
func getChunk(large bool) *chunk {
	pool := &chunkPool
	if large {
		pool = &largeChunkPool
	}
	c := pool.Get().(*chunk)
	c.r, c.w = 0, 0
	c.refs.Store(1)
	return c
}

// unref drops one reference and recycles the chunk when it was the last.
func (c *chunk) unref() {
	switch n := c.refs.Add(-1); {
	case n == 0 && len(c.buf) == LargeChunkSize:
		largeChunkPool.Put(c)
	case n == 0:
		chunkPool.Put(c)
	case n < 0:
		panic("stream: chunk released more times than it was referenced (Segment.Release called twice?)")
	}
}

// Segment is bytes popped from a [Queue]. Bytes stays valid until Release.
//
// A Segment is a value, but it owns resources: call Release exactly once,
// after the bytes are on the wire (or dropped), and not on a copy as well.
type Segment struct {
	// Bytes is the popped data. It points into a pooled chunk, so it must
	// not be used after Release; its capacity is cut to its length so that
	// an append cannot scribble over bytes that are still queued.
	Bytes []byte

	// QueuedAt is when the first byte of Bytes' chunk was written into
	// the queue: time.Since(QueuedAt) after a write to the socket is how
	// long the data waited (an upper bound for the later bytes of a chunk).
	QueuedAt time.Time

	c *chunk // chunk Bytes points into; nil for a zero Segment
	q *Queue // queue whose budget bytes these are; nil without a budget
	n int64  // budget bytes to give back (len(Bytes) when popped)
}

// Release is called after the bytes are on the wire: it returns the budget
// bytes and, if this segment was the last holder of its chunk, the chunk to
// the pool. It is safe on a zero Segment.
func (s Segment) Release() {
	if s.q != nil && s.n > 0 {
		s.q.release(s.n)
	}
	if s.c != nil {
		s.c.unref()
	}
}
