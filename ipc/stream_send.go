package ipc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/sluicegw/sluice/stream"
)

// The sending side of a Stream: the application's WriteHead, Write and End,
// and the few methods through which the writer goroutine serves the stream.

// WriteHead sends this end's head on an accepted stream (the response
// head). With endStream, the head is also the end of what this end sends.
func (st *Stream) WriteHead(head Fields, endStream bool) error {
	frame, err := st.c.headFrame(head, endStream)
	if err != nil {
		return err
	}
	putHeader(frame, frameHeader{Length: uint32(len(frame) - headerSize), Type: frameHead, Flags: headFlags(endStream), StreamID: st.id})
	st.mu.Lock()
	switch {
	case st.writeErr != nil:
		st.mu.Unlock()
		return st.writeErr
	case st.send != sendIdle:
		st.mu.Unlock()
		return fmt.Errorf("ipc: WriteHead called twice on stream %d", st.id)
	}
	// Pushed under st.mu, so that a concurrent Reset's RESET can only
	// follow the HEAD, never precede it.
	if endStream {
		st.send = sendDone
		forget := st.recv.over()
		st.c.out.pushFrame(frame)
		st.mu.Unlock()
		if forget {
			st.c.forget(st)
		}
		return nil
	}
	st.send = sendOpen
	// The scheduler starts serving the stream only after its HEAD is queued,
	// so no DATA can overtake the head.
	st.c.out.pushOpen(frame, st)
	st.mu.Unlock()
	return nil
}

// WriteResponse sends this end's whole answer on an accepted stream: the
// head, body and an END with CodeOK and trailers. When the body fits one
// frame and the peer's credit, the HEAD, DATA and END frames are handed to
// the connection's writer as one unit, so that a small response costs the
// writer one wake-up and one writev instead of one per frame. Otherwise it
// is WriteHead, Write and End, and may block as Write does. The body is
// copied; the caller may reuse it once WriteResponse returns. An error while
// the stream's context has not ended means nothing was sent: the head or the
// trailers are too large for a frame.
func (st *Stream) WriteResponse(head Fields, body []byte, trailers Fields) error {
	if len(body) == 0 && len(trailers) == 0 {
		return st.WriteHead(head, true)
	}
	// Every check that can refuse the response comes first, so that an
	// error other than the stream's failure means nothing was sent and the
	// caller may still answer differently.
	endLen, err := st.endPayloadLen(trailers)
	if err != nil {
		return err
	}
	if len(body) > int(st.c.peer.MaxFramePayload) || len(body) > st.sendWin.Available() {
		return st.writeResponseSlowly(head, body, trailers)
	}
	// With room for a pending load report, which may leave with it
	// (outbox.pushDirect).
	need := headerSize + fieldsSize(head) + headerSize + len(body) + headerSize + endLen + headerSize + loadSize
	pooled := getResponseFrame(need)
	frame, err := st.c.appendHeadFrame((*pooled)[:0], head, false)
	if err != nil {
		putResponseFrame(pooled)
		return err
	}
	putHeader(frame, frameHeader{Length: uint32(len(frame) - headerSize), Type: frameHead, StreamID: st.id})
	if len(body) > 0 {
		frame = appendFrame(frame, frameData, 0, st.id, body)
	}
	frame = appendEndFrame(frame, st.id, CodeOK, trailers)

	*pooled = frame
	st.mu.Lock()
	switch {
	case st.writeErr != nil:
		st.mu.Unlock()
		putResponseFrame(pooled)
		return st.writeErr
	case st.send != sendIdle:
		st.mu.Unlock()
		putResponseFrame(pooled)
		return fmt.Errorf("ipc: WriteResponse called after the head on stream %d", st.id)
	}
	// Only this call spends the credit of a stream the writer does not
	// serve; the check above can only have been overtaken by more credit.
	st.sendWin.Take(len(body))
	st.send = sendDone
	forget := st.recv.over()
	// Under st.mu, as in WriteHead, so that a concurrent Reset's RESET
	// follows the whole response.
	st.c.out.pushResponse(pooled, len(body))
	st.mu.Unlock()
	if forget {
		st.c.forget(st)
	}
	return nil
}

// maxPooledFrame bounds the whole-response buffers kept for reuse, so that
// a rare large one does not stay pinned in the pool.
const maxPooledFrame = 64 << 10

// responseFrames recycles the buffers of whole responses (WriteResponse):
// one per small response would otherwise be garbage as large as its body.
// The writer puts a buffer back once the batch holding it is written.
var responseFrames = sync.Pool{New: func() any { return new([]byte) }}

// getResponseFrame returns an empty buffer with room for n bytes.
func getResponseFrame(n int) *[]byte {
	p := responseFrames.Get().(*[]byte)
	if cap(*p) < n {
		*p = make([]byte, 0, max(n, 4<<10))
	}
	return p
}

func putResponseFrame(p *[]byte) {
	if cap(*p) > maxPooledFrame {
		return
	}
	*p = (*p)[:0]
	responseFrames.Put(p)
}

// writeResponseSlowly is WriteResponse for a body that must go through the
// send queue: larger than a frame or than the peer's credit.
func (st *Stream) writeResponseSlowly(head Fields, body []byte, trailers Fields) error {
	if err := st.WriteHead(head, false); err != nil {
		return err
	}
	if _, err := st.Write(body); err != nil {
		return err
	}
	return st.End(CodeOK, trailers)
}

// writableLocked is why Write or End may not go on, or nil.
func (st *Stream) writableLocked() error {
	switch {
	case st.writeErr != nil:
		return st.writeErr
	case st.send == sendIdle:
		return ErrNoHead
	case st.send != sendOpen:
		return ErrWriteClosed
	}
	return nil
}

// Write queues p for sending, blocking while the stream's send queue (and
// the shared send budget, if any) is full.
func (st *Stream) Write(p []byte) (int, error) {
	st.mu.Lock()
	err := st.writableLocked()
	st.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := st.sendq.Write(st.ctx, p)
	if err != nil {
		if cause := context.Cause(st.ctx); cause != nil && errors.Is(err, context.Canceled) {
			err = cause
		}
	}
	return n, err
}

// QueuedBytes is how many bytes are queued for sending and not yet handed to
// the socket.
func (st *Stream) QueuedBytes() int { return st.sendq.Len() }

// CloseWrite ends what this end sends with status OK and no trailers.
func (st *Stream) CloseWrite() error { return st.End(CodeOK, nil) }

// End ends what this end sends: once the queued data has left, an END frame
// carries code (CodeOK for a complete stream) and trailers.
func (st *Stream) End(code Code, trailers Fields) error {
	if _, err := st.endPayloadLen(trailers); err != nil {
		return err
	}
	st.mu.Lock()
	if err := st.writableLocked(); err != nil {
		st.mu.Unlock()
		return err
	}
	st.send = sendClosing
	st.endCode = code
	st.endFields = trailers
	// Under st.mu, so that a concurrent reset's close op cannot come
	// before this end op and leave the stream pending for ever.
	st.c.out.pushEnd(st)
	st.mu.Unlock()
	st.sendq.CloseWrite()
	return nil
}

// EndQueued reports whether the stream's sending side needs nothing more
// from the peer: End was called (or the stream is over) and the peer's
// credit covers every byte still queued before it, so that the data and
// the END leave with the writer's next batches whatever the peer does. A
// worker uses it to tell a response that is finishing from one still
// waiting on a slow client.
func (st *Stream) EndQueued() bool {
	st.mu.Lock()
	ending := st.send >= sendClosing
	st.mu.Unlock()
	return ending && st.sendq.Len() <= st.sendWin.Available()
}

// The methods below run on the writer goroutine.

// sendable is how many bytes the writer may send now: queued and covered
// by the peer's credit.
func (st *Stream) sendable() int { return min(st.sendq.Len(), st.sendWin.Available()) }

// takeCredit takes up to n bytes of the peer's credit for DATA frames and
// returns how much it took.
func (st *Stream) takeCredit(n int) int { return st.sendWin.Take(n) }

// refundCredit gives back n bytes of credit takeCredit took and no DATA
// frame spent.
func (st *Stream) refundCredit(n int) { st.sendWin.Refund(n) }

// popData takes up to max queued bytes for a DATA frame, covered by credit
// taken first; the caller releases the segment once it is on the wire.
func (st *Stream) popData(max int) stream.Segment { return st.sendq.Pop(max) }

// endFrameIfDrained returns the stream's END frame once End was called and
// every queued byte has left, or nil while data remains.
func (st *Stream) endFrameIfDrained() []byte {
	if !st.sendq.Done() {
		return nil
	}
	st.mu.Lock()
	code, trailers := st.endCode, st.endFields
	st.mu.Unlock()
	return appendEndFrame(make([]byte, 0, headerSize+4+fieldsSize(trailers)), st.id, code, trailers)
}

// endPayloadLen is the payload length of an END frame with trailers, or
// why the peer would not accept one that large.
func (st *Stream) endPayloadLen(trailers Fields) (int, error) {
	n := 4 + fieldsSize(trailers)
	if limit := fieldBlockLimit(st.c.peer.MaxFramePayload); n > limit {
		return 0, fmt.Errorf("ipc: an END frame with these trailers would carry %d bytes; at most %d are allowed: send fewer or smaller trailers", n, limit)
	}
	return n, nil
}

// appendEndFrame appends stream id's END frame: code, then the trailers.
func appendEndFrame(b []byte, id uint32, code Code, trailers Fields) []byte {
	at := len(b)
	b = append(b, make([]byte, headerSize+4)...)
	putHeader(b[at:], frameHeader{Length: uint32(4 + fieldsSize(trailers)), Type: frameEnd, StreamID: id})
	binary.BigEndian.PutUint32(b[at+headerSize:], uint32(code))
	return appendFields(b, trailers)
}

// onWindow (reader goroutine) adds the peer's credit and lets the writer
// know.
func (st *Stream) onWindow(n uint32) error {
	st.mu.Lock()
	reset := st.send == sendReset
	st.mu.Unlock()
	if reset {
		return nil // credit for a stream we reset crossed our RESET
	}
	if err := st.sendWin.Add(int(n)); err != nil {
		return protoErrorf(CodeFlowControl, "WINDOW on stream %d: %v", st.id, err)
	}
	st.credited()
	st.c.out.kick()
	return nil
}
