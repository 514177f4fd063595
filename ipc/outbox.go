package ipc

import (
	"slices"
	"sync"
	"time"
)

// outbox is how other goroutines hand work to the writer goroutine, which
// alone owns the scheduler, and the socket but while it waits idle (see
// pushDirect). It is a plain mutex-guarded list
// rather than a channel so that pushing never blocks: a ping reply must never
// wait for room behind data, and streamed data never enters this list (it
// stays in the streams' queues until the writer pulls it). The one exception
// is a whole small response from WriteResponse, whose body is already
// covered by credit and goes with its HEAD and END as one frame buffer.
type outbox struct {
	mu      sync.Mutex
	ops     []outOp
	load    Load // the latest load report; older unsent ones are superseded
	hasLoad bool
	// failAfterFlush, when set, makes the writer end the connection with
	// this error once the control frames pushed so far are written.
	failAfterFlush error
	wake           chan struct{}

	// Direct writes (see pushDirect). idle says the writer goroutine waits
	// for work with nothing of its own left to write; direct that a pusher
	// is writing to the socket, and the writer must not until it is done
	// (directDone is signalled then). sock is nil until the writer starts,
	// and on a connection without a file descriptor.
	idle       bool
	direct     bool
	directDone sync.Cond
	sock       *directConn
	onFlushed  func(time.Duration, int)
}

// outOp is one instruction for the writer, applied in push order: first
// frame (if any) is queued as a control frame, then open/close/end change
// which streams the scheduler serves.
type outOp struct {
	frame []byte
	open  *Stream // start scheduling this stream's data
	close *Stream // stop scheduling it (reset)
	end   *Stream // send END once its queue is drained
	// response is a whole response from WriteResponse, whose buffer goes
	// back to its pool once written; it carries data body bytes, queued at
	// queuedAt, whose flush lag the writer reports as it does for queued
	// data.
	response *[]byte
	data     int
	queuedAt time.Time
}

func (o *outbox) init() {
	o.wake = make(chan struct{}, 1)
	o.directDone.L = &o.mu
}

// maxPendingControl bounds the ping replies a peer can make us queue
// without reading them: beyond it the connection ends.
const maxPendingControl = 10000

// pending is how many operations wait for the writer.
func (o *outbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ops)
}

func (o *outbox) push(op outOp) {
	o.mu.Lock()
	o.ops = append(o.ops, op)
	o.mu.Unlock()
	o.kick()
}

func (o *outbox) pushFrame(f []byte) { o.pushDirect(outOp{frame: f}) }

// pushCredit queues a WINDOW frame for the writer, never writing it
// directly: credit comes from many streams at once, as their readers drain
// them, and the writer sends what accumulated in one writev where direct
// writes would cost a system call each.
func (o *outbox) pushCredit(f []byte)            { o.push(outOp{frame: f}) }
func (o *outbox) pushOpen(f []byte, st *Stream)  { o.push(outOp{frame: f, open: st}) }
func (o *outbox) pushClose(f []byte, st *Stream) { o.push(outOp{frame: f, close: st}) }
func (o *outbox) pushEnd(st *Stream)             { o.push(outOp{end: st}) }
func (o *outbox) pushResponse(f *[]byte, data int) {
	o.pushDirect(outOp{frame: *f, response: f, data: data, queuedAt: time.Now()})
}
func (o *outbox) requestFlushThenFail(err error) {
	o.mu.Lock()
	o.failAfterFlush = err
	o.mu.Unlock()
	o.kick()
}

// pushLoad replaces the pending load report; wake says whether the writer
// should come for it now rather than with its next batch.
func (o *outbox) pushLoad(l Load, wake bool) {
	o.mu.Lock()
	o.load, o.hasLoad = l, true
	o.mu.Unlock()
	if wake {
		o.kick()
	}
}

// A frame that needs nothing of the writer but to be written (a HEAD that
// ends its stream, a whole response, a ping) costs, handed to the
// writer goroutine, a wake-up of that goroutine and often of a thread for
// it, and a trip through its batch, for one system call. When the writer
// has nothing else to write, the goroutine that pushes such a frame writes
// it itself instead, without waiting for room in the socket: what the
// socket does not take at once goes to the writer goroutine, ahead of
// everything pushed since, so that the bytes on the wire stay in push
// order. Under load the writer is busy and frames are batched as before.

// pushDirect pushes op, a frame with no scheduling change, writing it to the
// socket at once if the writer is idle and nothing waits for it (see
// above). A pending load report goes with a whole response, in its buffer.
func (o *outbox) pushDirect(op outOp) {
	o.mu.Lock()
	if !o.idle || o.direct || len(o.ops) > 0 || o.failAfterFlush != nil || o.sock == nil ||
		(o.hasLoad && op.response == nil) {
		o.ops = append(o.ops, op)
		o.mu.Unlock()
		o.kick()
		return
	}
	o.direct = true
	if o.hasLoad {
		// The report was waiting for the writer's next batch, which
		// this write takes the place of.
		*op.response = appendLoadFrame(*op.response, o.load)
		op.frame = *op.response
		o.hasLoad = false
	}
	o.mu.Unlock()

	n := o.sock.tryWrite(op.frame)
	whole := n == len(op.frame)
	if whole && op.data > 0 && o.onFlushed != nil {
		// Under the claim, so that flush-lag reports never run
		// concurrently with the writer's.
		o.onFlushed(time.Since(op.queuedAt), op.data)
	}

	o.mu.Lock()
	o.direct = false
	if !whole {
		op.frame = op.frame[n:]
		o.ops = slices.Insert(o.ops, 0, op)
	}
	o.directDone.Broadcast()
	o.mu.Unlock()
	if !whole {
		o.kick()
		return
	}
	if op.response != nil {
		putResponseFrame(op.response)
	}
}

// appendLoadFrame appends l's LOAD frame to b.
func appendLoadFrame(b []byte, l Load) []byte {
	at := len(b)
	b = append(b, make([]byte, headerSize+loadSize)...)
	l.putFrame(b[at:])
	return b
}

// setIdle tells the outbox whether the writer goroutine is about to wait
// with nothing to write (idle), or has woken up. Waking, it first waits
// for a direct write in progress to end.
func (o *outbox) setIdle(idle bool) {
	o.mu.Lock()
	if idle {
		o.idle = len(o.ops) == 0 && o.failAfterFlush == nil
	} else {
		o.idle = false
		for o.direct {
			o.directDone.Wait()
		}
	}
	o.mu.Unlock()
}

// kick wakes the writer; a pending wake-up is enough, so it never blocks.
func (o *outbox) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take hands the writer everything pushed so far, reusing buf's storage:
// the operations, the load report and whether one is pending, and the error
// to fail with once flushed.
func (o *outbox) take(buf []outOp) ([]outOp, Load, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	buf = append(buf[:0], o.ops...)
	clear(o.ops)
	o.ops = o.ops[:0]
	load, hasLoad := o.load, o.hasLoad
	o.hasLoad = false
	return buf, load, hasLoad, o.failAfterFlush
}
