package ipc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sluicegw/sluice/stream"
)

// Stream is one request/response exchange on a Conn. Write and CloseWrite
// send; Read receives. Writes block while the stream's send queue is full;
// the reading side never makes the connection's reader wait, because the
// peer may send only what this end granted.
//
// Each direction ends with an END frame (a status and trailers) or a reset.
// A Read that returns io.EOF saw a complete stream; any other error means
// the data is incomplete.
type Stream struct {
	c      *Conn
	id     uint32
	ctx    context.Context
	cancel context.CancelCauseFunc

	sendq    *stream.Queue
	sendWin  *stream.SendWindow
	recvq    *stream.Queue
	recvWin  *stream.RecvWindow
	readable chan struct{} // a token whenever Read may make progress
	// pendingWake is owned by the reader goroutine: the stream got data and
	// its reader will be woken before the reader goroutine next blocks.
	pendingWake bool

	headOnce sync.Once
	headDone chan struct{} // closed when the peer's head arrived or the stream failed

	mu          sync.Mutex
	head        Fields // the peer's head
	gotHead     bool
	headSent    bool
	writeClosed bool  // no more Write: CloseWrite, End, reset or failure
	writeErr    error // why Write fails, once it does
	sendDone    bool  // our END or RESET is out (or committed to go out)
	recvDone    bool  // the peer's END or RESET arrived
	resetSent   bool
	readErr     error // io.EOF after a complete END, else why reading failed
	trailers    Fields
	endCode     Code
	endFields   Fields
	forgotten   bool
}

func (c *Conn) newStreamLocked(id uint32, head Fields) *Stream {
	ctx, cancel := context.WithCancelCause(context.Background())
	st := &Stream{
		c:        c,
		id:       id,
		ctx:      ctx,
		cancel:   cancel,
		sendq:    stream.NewQueue(c.local.sendQueue, c.budget),
		sendWin:  stream.NewSendWindow(int(c.peer.StreamWindow)),
		recvq:    stream.NewQueue(c.local.streamWindow, nil),
		recvWin:  stream.NewRecvWindow(c.local.streamWindow),
		readable: make(chan struct{}, 1),
		headDone: make(chan struct{}),
		head:     head,
	}
	st.sendq.SetNotify(c.out.kick)
	// No notify on the receive queue: only the reader goroutine fills it,
	// and it wakes the stream's reader in batches (readLoop); every other
	// change (end, reset, failure) signals readable itself.
	c.streams[id] = st
	return st
}

// growWindow is the smallest stream window for which CopyTo lets the
// receive buffer grow to large chunks: the chunk slack (up to two large
// chunks over the window) stays a fraction of what the window allows.
const growWindow = 4 * stream.LargeChunkSize

// ID is the stream's identifier on its connection.
func (st *Stream) ID() uint32 { return st.id }

// Context ends when the stream is reset (by either end), when the
// connection fails, or once the stream has ended in both directions.
func (st *Stream) Context() context.Context { return st.ctx }

// Head is the head the peer sent: on an accepted stream the request head,
// on an opened stream the response head once ReadHead has returned.
func (st *Stream) Head() Fields {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.head
}

// ReadHead waits for the peer's head (on an opened stream, the response
// head) and returns it, or why it will never come.
func (st *Stream) ReadHead(ctx context.Context) (Fields, error) {
	select {
	case <-st.headDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gotHead {
		return st.head, nil
	}
	return nil, st.readErr
}

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
	case st.headSent:
		st.mu.Unlock()
		return fmt.Errorf("ipc: WriteHead called twice on stream %d", st.id)
	}
	st.headSent = true
	// Pushed under st.mu, so that a concurrent Reset's RESET can only
	// follow the HEAD, never precede it.
	if endStream {
		st.writeClosed = true
		st.c.out.pushFrame(frame)
		st.mu.Unlock()
		st.sentEnd()
		return nil
	}
	// The scheduler starts serving the stream only after its HEAD is queued,
	// so no DATA can overtake the head.
	st.c.out.pushOpen(frame, st)
	st.mu.Unlock()
	return nil
}

// Write queues p for sending, blocking while the stream's send queue (and
// the shared send budget, if any) is full.
func (st *Stream) Write(p []byte) (int, error) {
	st.mu.Lock()
	switch {
	case st.writeErr != nil:
		st.mu.Unlock()
		return 0, st.writeErr
	case st.writeClosed:
		st.mu.Unlock()
		return 0, ErrWriteClosed
	case !st.headSent:
		st.mu.Unlock()
		return 0, ErrNoHead
	}
	st.mu.Unlock()
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
	n := 4 + fieldsSize(trailers)
	if limit := fieldBlockLimit(st.c.peer.MaxFramePayload); n > limit {
		return fmt.Errorf("ipc: an END frame with these trailers would carry %d bytes; at most %d are allowed", n, limit)
	}
	st.mu.Lock()
	switch {
	case st.writeErr != nil:
		st.mu.Unlock()
		return st.writeErr
	case st.writeClosed || st.sendDone:
		st.mu.Unlock()
		return ErrWriteClosed
	case !st.headSent:
		st.mu.Unlock()
		return ErrNoHead
	}
	st.writeClosed = true
	st.endCode = code
	st.endFields = trailers
	// Under st.mu, so that a concurrent reset's close op cannot come
	// before this end op and leave the stream pending for ever.
	st.c.out.pushEnd(st)
	st.mu.Unlock()
	st.sendq.CloseWrite()
	return nil
}

// endFrame encodes the END frame; called by the writer once the queue drained.
func (st *Stream) endFrame() []byte {
	st.mu.Lock()
	code, trailers := st.endCode, st.endFields
	st.mu.Unlock()
	n := 4 + fieldsSize(trailers)
	b := make([]byte, headerSize+4, headerSize+n)
	putHeader(b, frameHeader{Length: uint32(n), Type: frameEnd, StreamID: st.id})
	binary.BigEndian.PutUint32(b[headerSize:], uint32(code))
	return appendFields(b, trailers)
}

// sentEnd records that our END (or a HEAD with end-of-stream) is out.
func (st *Stream) sentEnd() {
	st.mu.Lock()
	st.sendDone = true
	forget := st.recvDone
	st.mu.Unlock()
	if forget {
		st.c.forget(st)
	}
}

// Read reads the peer's data. It returns io.EOF after a complete stream, a
// *StreamError after a reset or an END with a failure status, or the
// connection's error.
func (st *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if n := st.readSome(p); n > 0 {
			return n, nil
		}
		st.mu.Lock()
		err := st.readErr
		st.mu.Unlock()
		if err != nil {
			// Data filed before the end was recorded is still queued.
			if n := st.readSome(p); n > 0 {
				return n, nil
			}
			return 0, err
		}
		<-st.readable
	}
}

func (st *Stream) readSome(p []byte) int {
	n := 0
	for n < len(p) {
		seg := st.recvq.Pop(len(p) - n)
		if len(seg.Bytes) == 0 {
			break
		}
		n += copy(p[n:], seg.Bytes)
		seg.Release()
	}
	if n > 0 {
		st.consumed(n)
	}
	return n
}

// WriteTo copies the peer's data to w without an intermediate buffer, one
// write per received chunk, until the stream ends. It returns nil after a
// complete stream. See CopyTo for flushing.
func (st *Stream) WriteTo(w io.Writer) (int64, error) { return st.CopyTo(w, nil) }

// CopyTo copies the peer's data to w until the stream ends, returning nil
// after a complete stream.
//
// A network connection pays per write: one 1 MiB write costs far less than
// sixteen of 64 KiB. So CopyTo writes a long run of received bytes (half of
// buf or more) straight from the receive buffer, and gathers shorter runs
// into buf to write them in one call; with a nil buf it writes every run
// directly. Runs are long because CopyTo lets the stream's receive buffer
// grow to 1 MiB chunks once it has carried a MiB (with a window of 4 MiB
// or more), which the connection's reader fills straight from the socket.
//
// If w has a Flush() error method, CopyTo calls it whenever it has written
// everything that arrived so far and is about to wait for more: bytes never
// sit in w's buffer while the stream is idle, and a busy stream pays no
// flush per chunk.
func (st *Stream) CopyTo(w io.Writer, buf []byte) (int64, error) {
	if st.recvWin.Size() >= growWindow {
		// After the first MiB, so that a small response never ties up a
		// large chunk.
		st.recvq.GrowChunks(stream.LargeChunkSize)
	}
	flusher, _ := w.(interface{ Flush() error })
	dirty := false
	var total int64
	for {
		n, err := st.copyOnce(w, buf)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n > 0 {
			dirty = true
			continue
		}
		if dirty && flusher != nil {
			if err := flusher.Flush(); err != nil {
				return total, err
			}
			dirty = false
		}
		st.mu.Lock()
		rerr := st.readErr
		st.mu.Unlock()
		if rerr != nil {
			if st.recvq.Len() > 0 {
				continue
			}
			if rerr == io.EOF {
				return total, nil
			}
			return total, rerr
		}
		<-st.readable
	}
}

// copyOnce makes at most one write to w of what has arrived, directly from
// the receive buffer or gathered into buf (see CopyTo), and returns what it
// wrote; 0 and nil mean nothing had arrived.
func (st *Stream) copyOnce(w io.Writer, buf []byte) (int, error) {
	seg := st.recvq.Pop(max(len(buf), stream.LargeChunkSize))
	k := len(seg.Bytes)
	if k == 0 {
		return 0, nil
	}
	if buf == nil || k >= len(buf)/2 {
		// Credit goes back once the bytes are on their way, not before:
		// the window is what bounds the memory a stream holds.
		n, err := w.Write(seg.Bytes)
		seg.Release()
		st.consumed(k)
		return n, err
	}
	copy(buf, seg.Bytes)
	seg.Release()
	st.consumed(k)
	k += st.readSome(buf[k:])
	return w.Write(buf[:k])
}

// consumed returns credit to the peer as the application drains the stream,
// in batches (see stream.RecvWindow).
func (st *Stream) consumed(n int) {
	grant := st.recvWin.Consumed(n)
	if grant == 0 {
		return
	}
	st.mu.Lock()
	done := st.recvDone
	st.mu.Unlock()
	if !done {
		st.c.out.pushFrame(u32Frame(frameWindow, st.id, uint32(grant)))
	}
}

// PeerEnded reports, without blocking, whether the peer has ended its side
// of the stream cleanly (an END with status OK, or a head with END_STREAM)
// and every byte it sent has been read: Read would return io.EOF at once.
// A worker uses it to tell a request without a body from one whose body is
// still coming.
func (st *Stream) PeerEnded() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.readErr == io.EOF && st.recvq.Len() == 0
}

// Trailers are the fields of the peer's END frame, once Read returned io.EOF.
func (st *Stream) Trailers() Fields {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.trailers
}

// Reset aborts the stream in both directions: queued data is dropped, the
// peer is told with code, and reads and writes fail. It is a no-op on a
// stream that already ended in both directions.
func (st *Stream) Reset(code Code) {
	err := &StreamError{StreamID: st.id, Code: code}
	st.mu.Lock()
	if st.resetSent || st.forgotten || (st.sendDone && st.recvDone) {
		st.mu.Unlock()
		return
	}
	st.resetSent = true
	st.sendDone = true
	st.writeClosed = true
	if st.writeErr == nil {
		st.writeErr = err
	}
	recvDone := st.recvDone
	if !recvDone {
		st.readErr = err
	}
	st.c.out.pushClose(u32Frame(frameReset, st.id, uint32(code)), st)
	st.mu.Unlock()
	st.sendq.Abort(err)
	if !recvDone {
		st.recvq.Abort(err)
	}
	st.cancel(err)
	st.signalReadable()
	st.failHead()
	if recvDone {
		st.c.forget(st)
	}
}

// Close ends the stream from this end: it sends END if writing was still
// open, and resets with CodeCancel if the peer's data was not read to its
// end, so the peer stops sending.
func (st *Stream) Close() error {
	st.mu.Lock()
	open := !st.writeClosed && st.headSent
	unread := !st.recvDone
	st.mu.Unlock()
	if unread {
		st.Reset(CodeCancel)
		return nil
	}
	if open {
		return st.CloseWrite()
	}
	return nil
}

func (st *Stream) signalReadable() {
	select {
	case st.readable <- struct{}{}:
	default:
	}
}

func (st *Stream) failHead() { st.headOnce.Do(func() { close(st.headDone) }) }

// The on* methods run on the connection's reader goroutine.

func (st *Stream) onHead(head Fields, end bool) error {
	st.mu.Lock()
	if st.resetSent {
		st.mu.Unlock()
		if end {
			// HEAD with END_STREAM is the peer's last frame: the stream
			// can be forgotten now (onEnd's reset branch does it).
			return st.onEnd(CodeOK, nil)
		}
		return nil
	}
	if st.gotHead {
		st.mu.Unlock()
		return protoErrorf(CodeProtocol, "a second HEAD on stream %d", st.id)
	}
	st.head = head
	st.gotHead = true
	st.mu.Unlock()
	st.failHead()
	if end {
		return st.onEnd(CodeOK, nil)
	}
	return nil
}

// onData files n bytes of data from r into the stream's queue.
func (st *Stream) onData(r io.Reader, n int) error {
	st.mu.Lock()
	switch {
	case st.resetSent:
		// Sent before the peer saw our reset; dropped.
		st.mu.Unlock()
		_, err := io.CopyN(io.Discard, r, int64(n))
		return err
	case st.recvDone:
		st.mu.Unlock()
		return protoErrorf(CodeProtocol, "DATA of %d bytes on stream %d after its END", n, st.id)
	case st.c.role == roleOpener && !st.gotHead:
		st.mu.Unlock()
		return protoErrorf(CodeProtocol, "DATA on stream %d before its response HEAD", st.id)
	}
	st.mu.Unlock()
	if err := st.recvWin.Receive(n); err != nil {
		return protoErrorf(CodeFlowControl, "stream %d: %v", st.id, err)
	}
	// Never blocks for space: the queue holds a full window and the window
	// was just checked. If the stream is reset meanwhile the data is dropped.
	if _, err := st.recvq.Fill(r, n); err != nil {
		return fmt.Errorf("ipc: reading DATA payload of stream %d: %w", st.id, err)
	}
	return nil
}

func (st *Stream) onEnd(code Code, trailers Fields) error {
	st.mu.Lock()
	if st.resetSent {
		st.recvDone = true
		st.mu.Unlock()
		st.c.forget(st)
		return nil
	}
	if st.recvDone {
		st.mu.Unlock()
		return protoErrorf(CodeProtocol, "a second END on stream %d", st.id)
	}
	if st.c.role == roleOpener && !st.gotHead {
		st.mu.Unlock()
		return protoErrorf(CodeProtocol, "END on stream %d before its response HEAD", st.id)
	}
	st.recvDone = true
	st.trailers = trailers
	if code == CodeOK {
		st.readErr = io.EOF
	} else {
		st.readErr = &StreamError{StreamID: st.id, Code: code, Remote: true, Ended: true}
	}
	forget := st.sendDone
	st.mu.Unlock()
	st.recvq.CloseWrite()
	st.signalReadable()
	if forget {
		st.c.forget(st)
	}
	return nil
}

func (st *Stream) onReset(code Code) {
	err := &StreamError{StreamID: st.id, Code: code, Remote: true}
	st.mu.Lock()
	recvWasDone := st.recvDone
	st.recvDone = true
	if !recvWasDone || st.readErr == io.EOF {
		st.readErr = err
	}
	reply := !st.sendDone
	st.sendDone = true
	st.writeClosed = true
	if st.writeErr == nil {
		st.writeErr = err
	}
	if reply {
		// Our last frame on every stream is END or RESET, so the peer
		// knows when it may forget the stream.
		st.c.out.pushClose(u32Frame(frameReset, st.id, uint32(CodeCancel)), st)
	}
	st.mu.Unlock()
	st.sendq.Abort(err)
	st.recvq.Abort(err)
	st.cancel(err)
	st.signalReadable()
	st.failHead()
	st.c.forget(st)
}

func (st *Stream) onWindow(n uint32) error {
	st.mu.Lock()
	reset := st.resetSent
	st.mu.Unlock()
	if reset {
		return nil // credit for a stream we reset crossed our RESET
	}
	if err := st.sendWin.Add(int(n)); err != nil {
		return protoErrorf(CodeFlowControl, "WINDOW on stream %d: %v", st.id, err)
	}
	st.c.out.kick()
	return nil
}

// connFailed fails the stream because its connection ended.
func (st *Stream) connFailed(err error) {
	st.mu.Lock()
	// A stream whose END already arrived keeps io.EOF: its data is complete
	// and stays readable.
	if st.readErr == nil {
		st.readErr = err
	}
	if st.writeErr == nil {
		st.writeErr = err
	}
	st.writeClosed = true
	complete := st.readErr == io.EOF
	st.mu.Unlock()
	st.sendq.Abort(err)
	if !complete {
		st.recvq.Abort(err)
	}
	st.cancel(err)
	st.signalReadable()
	st.failHead()
}

// forget drops a stream that has ended in both directions.
func (c *Conn) forget(st *Stream) {
	st.mu.Lock()
	if st.forgotten {
		st.mu.Unlock()
		return
	}
	st.forgotten = true
	st.mu.Unlock()
	c.mu.Lock()
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
	}
	c.mu.Unlock()
	st.cancel(context.Canceled)
}
