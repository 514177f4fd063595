package ipc

import "io"

// A stream's state is two small machines, one per direction, guarded by
// Stream.mu. Four kinds of goroutine move them: the application (App: the
// stream's users calling its methods), the connection's reader goroutine
// (Reader), its writer goroutine (Writer), and whichever goroutine ends the
// connection (Fail, through connFailed).
//
// Send side, what this end sends:
//
//	from                  to        by      on
//	(new, accepted)       idle      Reader  the peer's HEAD opens the stream
//	(new, opened)         open      App     OpenStream
//	(new, opened)         done      App     OpenStream with endStream: HEAD carries END_STREAM
//	idle                  open      App     WriteHead
//	idle                  done      App     WriteHead with endStream
//	idle                  done      App     WriteResponse, body within a frame and the credit: HEAD,
//	                                        DATA and END queued as one op (else WriteHead, Write, End)
//	open                  closing   App     End, CloseWrite: the END waits for the queue to drain
//	closing               done      Writer  the END is put in a batch (sentEnd)
//	idle/open/closing     reset     App     Reset: our RESET is queued
//	idle                  reset     Reader  Reset(CodeRefused): beyond the limit or after go-away
//	done (recv not over)  reset     App     Reset: our RESET follows the END, to stop the peer
//	idle/open/closing     reset     Reader  the peer's RESET: we answer with RESET
//	idle/open/closing     done      Fail    the connection ended: nothing more can leave
//
// Receive side, what the peer sends:
//
//	from                  to        by      on
//	(new, accepted)       open      Reader  the peer's HEAD, which opens the stream
//	(new, opened)         head      App     OpenStream
//	head                  open      Reader  the response HEAD
//	head/open             ended     Reader  END, or a HEAD with END_STREAM (also the opening one)
//	head/open             ended     Reader  the peer's END while send is reset (nothing filed)
//	head/open/ended       reset     Reader  the peer's RESET
//
// While send is reset the reader drops what the peer still sends (it was
// sent before the peer saw our RESET) until the peer's last frame, which
// only marks recv over so that the stream can be forgotten. A stream is
// forgotten (dropped from its Conn, its context cancelled) by the
// transition that leaves send done or reset and recv ended or reset: the
// last frame each way has been sent and received. A failed connection
// forgets nothing; its streams die with it.
//
// Two outcomes sit beside the states: writeErr, once set, is what Write,
// End and WriteHead report (a reset or the connection's failure), and
// readErr is what Read reports once the buffered data is drained (io.EOF
// after an END with status OK). Whether the peer's head arrived is not a
// state but a flag (headIn) and a one-shot wake-up (headDone, with headErr
// for a head that will never come), since a reset may come before or after
// it. The reader goroutine wakes ReadHead with the stream's reader, after
// the rest of the read that brought the head is filed.
//
// Every terminal transition (Reset, onReset, connFailed) ends in terminate,
// which stops the queues, cancels the context and wakes the waiters.

// sendState is where the sending direction of a stream is; see above.
type sendState uint8

const (
	sendIdle    sendState = iota // no head sent yet: an accepted stream before WriteHead
	sendOpen                     // the head is out; Write and End are allowed
	sendClosing                  // End called: the END waits for the queued data to leave
	sendDone                     // the END is out (or committed), or the connection failed
	sendReset                    // our RESET is queued: nothing more leaves, inbound frames are dropped
)

// over reports whether this end sends nothing more on the stream.
func (s sendState) over() bool { return s >= sendDone }

// recvState is where the receiving direction of a stream is; see above.
type recvState uint8

const (
	recvHead  recvState = iota // waiting for the peer's head: an opened stream before its response
	recvOpen                   // the head arrived; DATA and END may follow
	recvEnded                  // the peer's END arrived: its last frame
	recvReset                  // the peer's RESET arrived: its last frame
)

// over reports whether the peer's last frame on the stream has arrived.
func (r recvState) over() bool { return r >= recvEnded }

// closedLocked reports whether the stream has ended in both directions and
// may be forgotten.
func (st *Stream) closedLocked() bool { return st.send.over() && st.recv.over() }

// Reset aborts the stream in both directions: queued data is dropped, the
// peer is told with code, and reads and writes fail. It is a no-op on a
// stream that already ended in both directions.
func (st *Stream) Reset(code Code) {
	err := &StreamError{StreamID: st.id, Code: code}
	st.mu.Lock()
	if st.send == sendReset || st.closedLocked() {
		st.mu.Unlock()
		// Whatever is still buffered is no longer the receive budget's:
		// the application is done with the stream.
		st.recvWin.Drop()
		return
	}
	st.send = sendReset
	if st.writeErr == nil {
		st.writeErr = err
	}
	recvOver := st.recv.over()
	if !recvOver {
		st.readErr = err
	}
	// Under st.mu, so that the RESET follows a HEAD or END op pushed by a
	// concurrent WriteHead or End, never precedes it.
	st.c.out.pushClose(u32Frame(frameReset, st.id, uint32(code)), st)
	st.mu.Unlock()
	// The peer's data, if it all arrived, stays readable.
	st.terminate(err, !recvOver, recvOver)
}

// onReset (reader goroutine) handles the peer's RESET.
func (st *Stream) onReset(code Code) {
	err := &StreamError{StreamID: st.id, Code: code, Remote: true}
	st.mu.Lock()
	if !st.recv.over() || st.readErr == io.EOF {
		st.readErr = err
	}
	st.recv = recvReset
	if !st.send.over() {
		st.send = sendReset
		// Our last frame on every stream is END or RESET, so the peer
		// knows when it may forget the stream.
		st.c.out.pushClose(u32Frame(frameReset, st.id, uint32(CodeCancel)), st)
	}
	if st.writeErr == nil {
		st.writeErr = err
	}
	st.mu.Unlock()
	st.terminate(err, true, true)
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
	if !st.send.over() {
		st.send = sendDone
	}
	complete := st.readErr == io.EOF
	st.mu.Unlock()
	st.terminate(err, !complete, false)
}

// terminate is what every terminal transition does once the state says the
// stream is over: queued data is dropped (received data too, if abortRecv),
// blocked writers and readers wake with err, the context ends, and ReadHead
// stops waiting. forget drops the stream from its connection.
func (st *Stream) terminate(err error, abortRecv, forget bool) {
	st.sendq.Abort(err)
	if abortRecv {
		st.recvq.Abort(err)
	}
	// The stream's receive budget ends with it, even if its data stays
	// readable: nothing more arrives, and it is held only until read.
	st.recvWin.Drop()
	st.end(err)
	st.signalReadable()
	st.settleHead(err)
	if forget {
		st.c.forget(st)
	}
}

// sentEnd (writer goroutine) records that the stream's END is in a batch:
// from now on the peer may see it, and open a new stream, before writev
// returns.
func (st *Stream) sentEnd() {
	st.mu.Lock()
	if st.send == sendClosing {
		st.send = sendDone
	}
	forget := st.send == sendDone && st.recv.over()
	st.mu.Unlock()
	if forget {
		st.c.forget(st)
	}
}
