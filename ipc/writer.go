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

func (s streamSource) Sendable() int {
	return s.st.sendable()
}

// writeLoop is the connection's only writer. It owns the scheduler, so the
// scheduler needs no locks. Each pass takes every pending control frame
// first, then data as the policy picks it, up to MaxBatch bytes, then the
// END of every stream whose queue has drained, and hands the lot to the
// socket in one writev so that one wake-up moves as much as possible.
func (c *Conn) writeLoop() {
	defer c.wg.Done()
	sched := stream.NewScheduler(c.policy)
	active := make(map[uint32]*Stream)
	var (
		ops        []outOp
		pendingEnd []*Stream
		ended      []*Stream
		segs       []stream.Segment
		bufs       = make(net.Buffers, 0, maxIovecs+8)
		hdrs       = make([]byte, maxFramesPerBatch*headerSize)
		maxPayload = int(c.peer.MaxFramePayload)
	)
	for {
		var load []byte
		var failErr error
		ops, load, failErr = c.out.take(ops)
		for i, op := range ops {
			if op.frame != nil {
				sched.PushControl(op.frame)
			}
			switch {
			case op.open != nil:
				active[op.open.id] = op.open
				sched.Open(op.open.id, streamSource{op.open})
			case op.close != nil:
				delete(active, op.close.id)
				sched.Close(op.close.id)
				pendingEnd = removeStream(pendingEnd, op.close)
			case op.end != nil:
				pendingEnd = append(pendingEnd, op.end)
			}
			ops[i] = outOp{}
		}
		if load != nil {
			sched.PushControl(load)
		}

		bufs = bufs[:0]
		size, frames := 0, 0
		for size < c.local.maxBatch && frames < maxFramesPerBatch && len(bufs) < maxIovecs-1 {
			ctl, id, n, ok := sched.Pop(min(maxPayload, c.local.maxBatch-size))
			if !ok {
				break
			}
			if ctl != nil {
				bufs = append(bufs, ctl)
				size += len(ctl)
				continue
			}
			st := active[id]
			for n > 0 && frames < maxFramesPerBatch && len(bufs) < maxIovecs-1 {
				m := c.appendData(&bufs, &segs, st, hdrs[frames*headerSize:(frames+1)*headerSize], min(n, maxPayload))
				if m == 0 {
					break
				}
				frames++
				n -= m
				size += headerSize + m
			}
		}
		// An END must not overtake its stream's HEAD, which may still be
		// in the control queue when the batch filled up: ENDs wait for a
		// pass that has written every control frame.
		for i := 0; i < len(pendingEnd) && sched.ControlLen() == 0; {
			st := pendingEnd[i]
			end := st.endFrameIfDrained()
			if end == nil {
				i++
				continue
			}
			bufs = append(bufs, end)
			delete(active, st.id)
			sched.Close(st.id)
			ended = append(ended, st)
			pendingEnd[i] = pendingEnd[len(pendingEnd)-1]
			pendingEnd = pendingEnd[:len(pendingEnd)-1]
		}

		if len(bufs) == 0 {
			if failErr != nil {
				c.fail(failErr)
				return
			}
			select {
			case <-c.out.wake:
				// Woken for data, not for a control frame: let the
				// producer that woke us run on and queue more before we
				// build the batch. One writev then moves several chunks
				// instead of one per wake-up (the 1 GiB stream benchmark
				// went from about 4 to 5.4 GB/s). Control frames do not
				// wait for this.
				if c.out.pending() == 0 {
					runtime.Gosched()
				}
			case <-c.done:
				return
			}
			continue
		}
		// A stream whose END is in this batch is done sending from now on
		// (as a reset is once its RESET is queued): the peer may see the
		// END and open a new stream before writev returns.
		for i, st := range ended {
			st.sentEnd()
			ended[i] = nil
		}
		ended = ended[:0]
		// WriteTo consumes the slice it is given; keep ours for reuse.
		w := bufs
		_, err := w.WriteTo(c.nc)
		clear(bufs)
		if c.onFlushed != nil && err == nil {
			now := time.Now()
			for _, seg := range segs {
				c.onFlushed(now.Sub(seg.QueuedAt), len(seg.Bytes))
			}
		}
		for i := range segs {
			segs[i].Release()
			segs[i] = stream.Segment{}
		}
		segs = segs[:0]
		if err != nil {
			if c.Err() == nil {
				c.fail(fmt.Errorf("ipc: writing to the socket: %w", err))
			}
			return
		}
		if failErr != nil && sched.ControlLen() == 0 {
			c.fail(failErr)
			return
		}
	}
}

// appendData appends to bufs one DATA frame of up to max bytes of st's
// queue: its header (written into hdr) and the queue chunks it spans, and
// to segs the segments to release once the frame is on the wire. It takes
// the credit and returns the payload length, 0 if nothing was queued.
// A frame spans chunks so that a peer accepting large frames gets its data
// in long runs (a receiver can then read most of a payload straight from
// the socket into its own buffer) rather than one header per 64 KiB.
func (c *Conn) appendData(bufs *net.Buffers, segs *[]stream.Segment, st *Stream, hdr []byte, max int) int {
	at := len(*bufs)
	*bufs = append(*bufs, hdr)
	m := 0
	for m < max && len(*bufs) < maxIovecs {
		seg := st.popData(max - m)
		if len(seg.Bytes) == 0 {
			break
		}
		*bufs = append(*bufs, seg.Bytes)
		*segs = append(*segs, seg)
		m += len(seg.Bytes)
	}
	if m == 0 {
		*bufs = (*bufs)[:at]
		return 0
	}
	st.tookData(m)
	putHeader(hdr, frameHeader{Length: uint32(m), Type: frameData, StreamID: st.id})
	return m
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
