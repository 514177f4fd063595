package ipc

// Telling an admission gate when a stream's application waits on its peer
// (a slow client) rather than on this process.

// SetWaitHook sets fn to be told when the application waits on the peer:
// fn(true) when a Write is about to block because the stream's send credit
// is exhausted (the peer has granted no room for the bytes already queued:
// a slow client), and fn(false) when that Write stops waiting; likewise
// fn(true) and fn(false) around a Read, WriteTo or CopyTo that blocks
// waiting for the peer's data (a client sending its body slowly). A Write
// that blocks while credit remains, because the writer is behind or the
// shared send budget is full, is not waiting on the peer and calls nothing.
//
// Calls come in true/false pairs, on the goroutine that blocks, before and
// after the wait; a call that does not block calls nothing. The credit is
// looked at when the wait begins: if credit arrives while a Write still
// waits for room in the shared send budget, fn(false) comes when that wait
// ends. When one goroutine writes and another reads, their pairs may
// interleave, so fn must then be safe for concurrent use.
//
// Set it before the stream is written or read, or from the goroutine that
// does both between calls; nil removes it. Without a hook nothing is
// called and nothing is checked.
func (st *Stream) SetWaitHook(fn func(waiting bool)) {
	st.waitHook = fn
	if fn == nil {
		st.sendq.SetWaiter(nil)
		return
	}
	// A conversion, not the method value st.sendWait: that would be a
	// closure made for every stream.
	st.sendq.SetWaiter((*sendWaiter)(st))
}

// SetReadWaitHook sets fn to be told of the read waits (a Read, WriteTo or
// CopyTo that blocks waiting for the peer's data) in the wait hook's place,
// for an application that tells the two directions apart: a parent whose
// copy waits on the worker's data while its body sender waits on the
// worker's credit only because the client reads the response slowly. The
// same rules as SetWaitHook's apply; nil gives the read waits back to the
// wait hook.
func (st *Stream) SetReadWaitHook(fn func(waiting bool)) { st.readWaitHook = fn }

// sendWaiter is a Stream as its send queue's stream.Waiter.
type sendWaiter Stream

// QueueWait implements stream.Waiter.
func (w *sendWaiter) QueueWait(waiting bool) { (*Stream)(w).sendWait(waiting) }

// sendWait is the send queue's wait hook: it passes on the waits that the
// peer's credit causes. A queue that holds bytes with no credit left cannot
// drain until the peer grants more, whatever else the Write waits for; the
// writer spends credit before it pops (writer.appendData), so a Write woken
// by a pop sees the credit that is really left.
func (st *Stream) sendWait(waiting bool) {
	if !waiting {
		if st.creditWait {
			st.creditWait = false
			st.waitHook(false)
		}
		return
	}
	if st.sendWin.Available() == 0 && st.sendq.Len() > 0 {
		st.creditWait = true
		st.waitHook(true)
	}
}

// awaitReadable blocks until reading may make progress, telling the wait
// hook if it has to wait.
func (st *Stream) awaitReadable() {
	hook := st.readWaitHook // one hook for the pair, whatever is set meanwhile
	if hook == nil {
		hook = st.waitHook
	}
	if hook == nil {
		<-st.readable
		return
	}
	select {
	case <-st.readable:
		return
	default:
	}
	hook(true)
	<-st.readable
	hook(false)
}
