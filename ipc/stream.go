package ipc

import (
	"context"
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

	// The application writes into sendq and the writer goroutine pops from
	// it and spends sendWin, which the reader goroutine refills; both lock
	// inside themselves (see stream_send.go).
	sendq   *stream.Queue
	sendWin *stream.SendWindow
	// The reader goroutine fills recvq and charges recvWin; the application
	// drains both (see stream_recv.go).
	recvq   *stream.Queue
	recvWin *stream.RecvWindow
	// waitHook is the application's SetWaitHook. The fields are laid out
	// so that creditWait and headOnce fill the word after pendingWake: a
	// stream's allocation keeps its size class.
	waitHook func(waiting bool)
	// readWaitHook, if set (SetReadWaitHook), is told of the read waits
	// in waitHook's place.
	readWaitHook func(waiting bool)
	readable     chan struct{} // a token whenever Read may make progress
	// pendingWake is owned by the reader goroutine: the stream got data and
	// its reader will be woken before the reader goroutine next blocks.
	pendingWake bool
	// creditWait says the wait hook was told that a Write waits for
	// credit. It and waitHook are used only by the application's
	// goroutines (see stream_wait.go).
	creditWait bool

	// The peer's head arrives once, or never: headDone is closed by
	// settleHead, with headErr saying why there will be none, unless headIn
	// says the head arrived before the failure did.
	headOnce sync.Once
	headDone chan struct{}
	headErr  error

	mu        sync.Mutex // guards the state and what follows it; see stream_state.go
	send      sendState
	recv      recvState
	writeErr  error  // why Write fails, once it does
	readErr   error  // io.EOF after a complete END, else why reading failed
	head      Fields // the peer's head
	headIn    bool   // head holds the peer's head
	trailers  Fields
	endCode   Code // what our END carries, once End was called
	endFields Fields
	// endHook is OnEnd's function, until the context ends and it is
	// called.
	endHook func(cause error)
	// hold is set on a stream whose body is held (continue.go), before
	// the stream is shared; nil on every other.
	hold *creditHold
}

// newStream makes a stream in the given initial states; head is the peer's
// head when the stream opens with it (an accepted stream). The caller
// registers it with its Conn.
func newStream(c *Conn, id uint32, send sendState, recv recvState, head Fields) *Stream {
	ctx, cancel := context.WithCancelCause(context.Background())
	// One allocation for the stream and its queues and windows, which live
	// exactly as long as it does: a stream per request makes their count
	// show.
	p := new(streamParts)
	p.sendq.Init(c.local.sendQueue, c.budget)
	p.sendWin.Init(int(c.peer.StreamWindow))
	p.recvq.Init(c.local.streamWindow, nil)
	c.local.initRecvWindow(&p.recvWin)
	st := &p.Stream
	*st = Stream{
		c:        c,
		id:       id,
		ctx:      ctx,
		cancel:   cancel,
		sendq:    &p.sendq,
		sendWin:  &p.sendWin,
		recvq:    &p.recvq,
		recvWin:  &p.recvWin,
		readable: make(chan struct{}, 1),
		send:     send,
		recv:     recv,
		head:     head,
	}
	st.sendq.SetNotify(c.kick)
	// No notify on the receive queue: only the reader goroutine fills it,
	// and it wakes the stream's reader in batches (reader.wakeAll); every
	// other change (end, reset, failure) signals readable itself.
	if recv != recvHead {
		// The head is in already: ReadHead never waits, and sharing one
		// closed channel saves a channel per accepted stream. headOnce is
		// spent so that no later settleHead closes it again.
		st.headIn = true
		st.headDone = closedChan
		st.headOnce.Do(func() {})
	} else {
		st.headDone = make(chan struct{})
	}
	return st
}

// closedChan is the headDone of every stream that opens with the peer's
// head.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// streamParts is a Stream with the queues and windows it points to.
type streamParts struct {
	Stream
	sendq, recvq stream.Queue
	sendWin      stream.SendWindow
	recvWin      stream.RecvWindow
}

// OnEnd arranges for f to be called once the stream's context ends, with
// its cause, from the goroutine that ends it; at once if it has ended. It is
// context.AfterFunc without its allocations and without a goroutine: a
// worker ends each request's context through it. A second call replaces
// the function of the first if that was not called yet.
func (st *Stream) OnEnd(f func(cause error)) {
	st.mu.Lock()
	if st.ctx.Err() == nil {
		st.endHook = f
		st.mu.Unlock()
		return
	}
	st.mu.Unlock()
	f(context.Cause(st.ctx))
}

// end ends the stream's context with cause, and calls OnEnd's function.
// The context ends before the function is looked for, under st.mu, as
// OnEnd looks at the context: either OnEnd sees the end, or end sees the
// function. The caller must not hold st.mu.
func (st *Stream) end(cause error) {
	st.cancel(cause)
	st.mu.Lock()
	f := st.endHook
	st.endHook = nil
	st.mu.Unlock()
	if f != nil {
		f(context.Cause(st.ctx))
	}
}

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
	if st.headIn {
		return st.head, nil
	}
	return nil, st.headErr
}

// Close ends the stream from this end: it sends END if writing was still
// open, and resets with CodeCancel if the peer's data was not read to its
// end, so the peer stops sending, or if this end never sent its head, so
// the peer learns there will be no answer.
func (st *Stream) Close() error {
	st.mu.Lock()
	open := st.send == sendOpen
	unread := !st.recv.over() || st.send == sendIdle
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

// settleHead ends ReadHead's wait: the head arrived (err nil) or never will.
// Only the first call counts.
func (st *Stream) settleHead(err error) {
	st.headOnce.Do(func() {
		st.headErr = err
		close(st.headDone)
	})
}

func (st *Stream) signalReadable() {
	select {
	case st.readable <- struct{}{}:
	default:
	}
}
