package ipc

import (
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/sluicegw/sluice/stream"
)

// maxFramesPerBatch bounds the frames in one writev.
const maxFramesPerBatch = 256

// maxIovecs bounds the buffers of one writev: Linux accepts up to 1024, and
// a data frame takes one for its header and one per queue chunk it spans.
const maxIovecs = 1000

// streamSource adapts a Stream to the scheduler: it can send what is queued
// and covered by credit.
type streamSource struct{ st *Stream }

func (s streamSource) Sendable() int { return s.st.sendable() }

// wholeResponse is what the flush-lag report needs of a response that
// WriteResponse sent as one unit.
type wholeResponse struct {
	data     int
	queuedAt time.Time
}

// writer is the connection's writer goroutine. Each pass takes every
// pending control frame first, then data as the policy picks it, up to
// maxBatch bytes, then the END of every stream whose queue has drained, and
// hands the lot to the socket in one writev so that one wake-up moves as
// much as possible. While it waits with nothing to write, a goroutine that
// pushes a lone frame may write that frame itself (outbox.pushDirect);
// everything else is written here.
//
// Every field is owned by the writer goroutine (writeLoop), so neither the
// scheduler nor the lists need locks; other goroutines reach it only
// through the outbox.
type writer struct {
	c          *Conn
	sched      *stream.Scheduler
	active     map[uint32]*Stream // streams the scheduler serves, by id
	pendingEnd []*Stream          // End called; the END waits for the queue to drain
	maxPayload int                // the peer's largest frame payload
	maxBatch   int

	// Reused from pass to pass.
	ops   []outOp
	ended []*Stream        // streams whose END is in the batch
	segs  []stream.Segment // queue data in the batch, released once written
	// whole is the body data of whole responses (WriteResponse) taken as
	// control frames since the last flush, for the flush-lag report.
	whole []wholeResponse
	// responses are the buffers of whole responses pushed as control
	// frames and not yet known to be written: they go back to their pool
	// after a batch that took every pending control frame.
	responses []*[]byte
	bufs      net.Buffers // the batch
	// sending is the batch as writev consumes it; a field so that taking
	// its address for WriteTo costs no allocation.
	sending net.Buffers
	hdrs    []byte // DATA frame headers, headerSize bytes per frame
	// loadFrame is the one LOAD frame buffer, reused for every report.
	// loadQueued says it sits in the scheduler's control queue, not yet
	// popped into a batch: a newer report then overwrites it in place
	// (an unsent report is superseded anyway) instead of queueing another.
	// Once popped it is not touched until the batch is written, which
	// happens before the next takeOps.
	loadFrame  [headerSize + loadSize]byte
	loadQueued bool
	// batchData is the queued data in the batch being built, and lastData
	// what the last batch written carried: what tells a streaming producer
	// from a small response (see yieldPays).
	batchData, lastData int
	// backlog is this writer's share of the send budget's backlog, as last
	// reported (see noteBacklog).
	backlog int64
}

func (c *Conn) writeLoop() {
	defer c.wg.Done()
	w := &writer{
		c:          c,
		sched:      stream.NewScheduler(c.policy),
		active:     make(map[uint32]*Stream),
		maxPayload: int(c.peer.MaxFramePayload),
		maxBatch:   c.local.maxBatch,
		bufs:       make(net.Buffers, 0, maxIovecs+8),
		hdrs:       make([]byte, maxFramesPerBatch*headerSize),
	}
	// From now on a pusher may write to the socket while this goroutine
	// waits (outbox.pushDirect).
	c.out.mu.Lock()
	c.out.sock = newDirectConn(c.nc)
	c.out.onFlushed = c.onFlushed
	c.out.mu.Unlock()
	w.run()
	w.setBacklog(0) // a writer that has stopped is behind with nothing
}

// run makes passes until the connection ends.
func (w *writer) run() {
	for {
		failErr := w.takeOps()
		w.buildBatch()
		w.appendEnds()
		w.noteBacklog()
		if len(w.bufs) == 0 {
			if failErr != nil {
				w.c.fail(failErr)
				return
			}
			if !w.wait() {
				return
			}
			continue
		}
		if !w.flush() {
			return
		}
		if failErr != nil && w.sched.ControlLen() == 0 {
			w.c.fail(failErr)
			return
		}
	}
}

// takeOps applies everything other goroutines pushed since the last pass,
// in push order, and returns the error to end the connection with once the
// control frames are out, if one was asked for.
func (w *writer) takeOps() error {
	var load Load
	var hasLoad bool
	var failErr error
	w.ops, load, hasLoad, failErr = w.c.out.take(w.ops)
	for i, op := range w.ops {
		if op.frame != nil {
			w.sched.PushControl(op.frame)
		}
		if op.response != nil {
			w.responses = append(w.responses, op.response)
		}
		if op.data > 0 && w.c.onFlushed != nil {
			w.whole = append(w.whole, wholeResponse{op.data, op.queuedAt})
		}
		switch {
		case op.open != nil:
			w.active[op.open.id] = op.open
			w.sched.Open(op.open.id, streamSource{op.open})
		case op.close != nil:
			delete(w.active, op.close.id)
			w.sched.Close(op.close.id)
			w.pendingEnd = removeStream(w.pendingEnd, op.close)
		case op.end != nil:
			w.pendingEnd = append(w.pendingEnd, op.end)
		}
		w.ops[i] = outOp{}
	}
	if hasLoad {
		load.putFrame(w.loadFrame[:])
		if !w.loadQueued {
			w.sched.PushControl(w.loadFrame[:])
			w.loadQueued = true
		}
	}
	return failErr
}

// buildBatch fills bufs with control frames and then DATA frames, as the
// scheduler picks them, up to maxBatch bytes.
func (w *writer) buildBatch() {
	w.bufs = w.bufs[:0]
	size, frames := 0, 0
	w.batchData = 0
	for size < w.maxBatch && frames < maxFramesPerBatch && len(w.bufs) < maxIovecs-1 {
		ctl, id, n, ok := w.sched.Pop(min(w.maxPayload, w.maxBatch-size))
		if !ok {
			break
		}
		if ctl != nil {
			if &ctl[0] == &w.loadFrame[0] {
				w.loadQueued = false
			}
			w.bufs = append(w.bufs, ctl)
			size += len(ctl)
			continue
		}
		st := w.active[id]
		for n > 0 && frames < maxFramesPerBatch && len(w.bufs) < maxIovecs-1 {
			m := w.appendData(st, w.hdrs[frames*headerSize:(frames+1)*headerSize], min(n, w.maxPayload))
			if m == 0 {
				break
			}
			frames++
			n -= m
			size += headerSize + m
		}
	}
}

// noteBacklog tells the send budget how far behind this writer is: the data
// in the batch it is about to write and what its streams still hold under
// the peer's credit. Bytes no credit covers are left out: they wait for a
// slow client, not for the writer, and must not hold the admission gate
// shut. The figure is taken once a pass, so bytes queued while a write to
// the socket blocks count from the next pass; a pass that finds nothing to
// send reports zero before the writer sleeps.
func (w *writer) noteBacklog() {
	if w.c.budget == nil {
		return
	}
	n := int64(w.batchData)
	if len(w.bufs) > 0 {
		for _, st := range w.active {
			n += int64(st.sendable())
		}
	}
	w.setBacklog(n)
}

// setBacklog makes this writer's share of the budget's backlog n. Only a
// change takes the budget's lock, so that a writer that sends no queued
// data (small whole responses) never does.
func (w *writer) setBacklog(n int64) {
	if n != w.backlog {
		w.c.budget.AddBacklog(n - w.backlog)
		w.backlog = n
	}
}

// appendData appends to bufs one DATA frame of up to max bytes of st's
// queue: its header (written into hdr) and the queue chunks it spans, and
// to segs the segments to release once the frame is on the wire. It takes
// the credit and returns the payload length, 0 if nothing was queued.
// A frame spans chunks so that a peer accepting large frames gets its data
// in long runs (a receiver can then read most of a payload straight from
// the socket into its own buffer) rather than one header per 64 KiB.
//
// The credit is taken before the bytes are popped and what was not spent
// given back after: a Write that a pop wakes must find the credit already
// spent, or it could take credit that is gone for the reason it waits
// (Stream.SetWaitHook).
func (w *writer) appendData(st *Stream, hdr []byte, max int) int {
	max = st.takeCredit(max)
	at := len(w.bufs)
	w.bufs = append(w.bufs, hdr)
	m := 0
	for m < max && len(w.bufs) < maxIovecs {
		seg := st.popData(max - m)
		if len(seg.Bytes) == 0 {
			break
		}
		w.bufs = append(w.bufs, seg.Bytes)
		w.segs = append(w.segs, seg)
		m += len(seg.Bytes)
	}
	st.refundCredit(max - m)
	if m == 0 {
		w.bufs = w.bufs[:at]
		return 0
	}
	w.batchData += m
	putHeader(hdr, frameHeader{Length: uint32(m), Type: frameData, StreamID: st.id})
	return m
}

// appendEnds appends the END of every stream whose queue has drained. An
// END must not overtake its stream's HEAD, which may still be in the
// control queue when the batch filled up: ENDs wait for a pass that has
// written every control frame.
func (w *writer) appendEnds() {
	for i := 0; i < len(w.pendingEnd) && w.sched.ControlLen() == 0; {
		st := w.pendingEnd[i]
		end := st.endFrameIfDrained()
		if end == nil {
			i++
			continue
		}
		w.bufs = append(w.bufs, end)
		delete(w.active, st.id)
		w.sched.Close(st.id)
		w.ended = append(w.ended, st)
		w.pendingEnd[i] = w.pendingEnd[len(w.pendingEnd)-1]
		w.pendingEnd = w.pendingEnd[:len(w.pendingEnd)-1]
	}
}

// wait blocks until there is work, and reports false once the connection
// has ended.
func (w *writer) wait() bool {
	w.c.out.setIdle(true)
	select {
	case <-w.c.out.wake:
		w.c.out.setIdle(false)
		if yieldPays(w.c.out.pending(), w.lastData, w.queuedData) {
			runtime.Gosched()
		}
		return true
	case <-w.c.done:
		return false
	}
}

// yieldData is how much queued data marks a streaming producer: a queue
// chunk's worth.
const yieldData = stream.ChunkSize

// yieldPays reports whether the writer, woken with pending operations in
// the outbox, should yield before building its batch, so that the producer
// that woke it runs on and queues more: one writev then moves several chunks
// instead of one per wake-up. That pays only for a streaming producer, seen
// as a previous batch (lastData) or queues (queued, asked only if needed)
// holding at least yieldData. A control frame or a whole response
// (pending > 0) never waits for it, nor does a small response's data: for
// those, the yield is a trip through the run queue that delays the reply and
// contends for the scheduler's lock under load.
func yieldPays(pending, lastData int, queued func(atLeast int) int) bool {
	if pending > 0 {
		return false
	}
	return lastData >= yieldData || queued(yieldData) >= yieldData
}

// queuedData sums the data queued on the scheduled streams, stopping once it
// reaches atLeast.
func (w *writer) queuedData(atLeast int) int {
	n := 0
	for _, st := range w.active {
		if n += st.sendq.Len(); n >= atLeast {
			break
		}
	}
	return n
}

// flush records the ENDs in the batch, writes the batch, reports the flush
// lag and releases the data. It reports false if the connection ended.
func (w *writer) flush() bool {
	// A stream whose END is in this batch is done sending from now on (as
	// a reset is once its RESET is queued): the peer may see the END and
	// open a new stream before writev returns.
	for i, st := range w.ended {
		st.sentEnd()
		w.ended[i] = nil
	}
	w.ended = w.ended[:0]
	w.lastData = w.batchData
	// Every control frame taken so far is in this batch unless some wait
	// for a later one; only then may the responses' buffers be reused.
	allControl := w.sched.ControlLen() == 0
	// WriteTo consumes the slice it is given; bufs keeps the storage for
	// reuse.
	w.sending = w.bufs
	_, err := w.sending.WriteTo(w.c.nc)
	clear(w.bufs)
	if w.c.onFlushed != nil && err == nil {
		now := time.Now()
		for _, seg := range w.segs {
			w.c.onFlushed(now.Sub(seg.QueuedAt), len(seg.Bytes))
		}
		// A control frame taken in this pass is in this batch unless the
		// batch filled up with control frames first, which only a flood of
		// them does: then the lag reported is a little short.
		for _, r := range w.whole {
			w.c.onFlushed(now.Sub(r.queuedAt), r.data)
		}
	}
	w.whole = w.whole[:0]
	if allControl && err == nil {
		for i, p := range w.responses {
			putResponseFrame(p)
			w.responses[i] = nil
		}
		w.responses = w.responses[:0]
	}
	for i := range w.segs {
		w.segs[i].Release()
		w.segs[i] = stream.Segment{}
	}
	w.segs = w.segs[:0]
	if err != nil {
		if w.c.Err() == nil {
			w.c.fail(fmt.Errorf("ipc: writing to the socket: %w", err))
		}
		return false
	}
	return true
}

func removeStream(list []*Stream, st *Stream) []*Stream {
	for i, s := range list {
		if s == st {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			return list[:len(list)-1]
		}
	}
	return list
}
