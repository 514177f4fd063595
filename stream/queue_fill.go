package stream

import (
	"errors"
	"io"
)

// Fill reads exactly n bytes from r straight into the queue's chunks, with
// no intermediate buffer, for a receiver that files incoming data into a
// per-stream queue. It never blocks for space: the caller guarantees room
// (ipc's reader has checked the peer's credit, and the queue's limit is the
// credit it granted), so a stream nobody reads can never stall the reader.
//
// If the queue is aborted meanwhile the bytes are still read from r, then
// dropped, so that the caller stays in step with its input. Fill does not
// use a budget; a queue created with one returns an error.
//
// Fill and Write must not be used on the same queue: there is one producer.
func (q *Queue) Fill(r io.Reader, n int) (int, error) {
	if q.budget != nil {
		return 0, errors.New("stream: Fill on a queue with a budget; receive queues take none")
	}
	done := 0
	for done < n {
		q.mu.Lock()
		if q.abortErr != nil || q.closed {
			q.mu.Unlock()
			m, err := io.CopyN(io.Discard, r, int64(n-done))
			return done + int(m), err
		}
		var c *chunk
		if q.head < len(q.chunks) {
			c = q.chunks[len(q.chunks)-1]
		}
		if c == nil || c.w == len(c.buf) {
			c = q.newChunkLocked()
		}
		// Hold a reference while reading outside the lock: an Abort may drop
		// the queue's own reference, and the chunk must not be recycled under
		// the read. Only this goroutine writes beyond c.w, and the consumer
		// reads only below it, so the read itself needs no lock.
		c.refs.Add(1)
		w := c.w
		q.filling = c
		q.mu.Unlock()

		k := min(n-done, len(c.buf)-w)
		_, err := io.ReadFull(r, c.buf[w:w+k])

		q.mu.Lock()
		q.filling = nil
		kept := err == nil && q.abortErr == nil
		wasEmpty := q.queued.Load() == 0
		if kept {
			c.w += k
			q.carried += int64(k)
			q.queued.Add(int64(k))
		}
		q.mu.Unlock()
		c.unref()
		if err != nil {
			return done, err
		}
		done += k
		if kept && wasEmpty && q.notify != nil {
			q.notify()
		}
	}
	return done, nil
}
