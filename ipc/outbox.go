package ipc

import (
	"sync"
	"time"
)

// outbox is how other goroutines hand work to the writer goroutine, which
// alone owns the socket and the scheduler. It is a plain mutex-guarded list
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

func (o *outbox) init() { o.wake = make(chan struct{}, 1) }

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

func (o *outbox) pushFrame(f []byte)             { o.push(outOp{frame: f}) }
func (o *outbox) pushOpen(f []byte, st *Stream)  { o.push(outOp{frame: f, open: st}) }
func (o *outbox) pushClose(f []byte, st *Stream) { o.push(outOp{frame: f, close: st}) }
func (o *outbox) pushEnd(st *Stream)             { o.push(outOp{end: st}) }
func (o *outbox) pushResponse(f *[]byte, data int) {
	o.push(outOp{frame: *f, response: f, data: data, queuedAt: time.Now()})
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
