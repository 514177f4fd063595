package stream

import "slices"

// roundRobin gives each stream with something to send a turn of quantum
// bytes, rotating in the order the streams were opened. It is
// work-conserving: a stream with nothing sendable is skipped, so Next fails
// only when no stream at all can send. A stream whose turn ends early,
// because it sent everything it had, loses the rest of it: as in deficit
// round robin, an idle stream banks no credit.
type roundRobin struct {
	quantum int
	streams []rrStream
	cur     int // the stream whose turn it is
	left    int // bytes left in its turn; always in (0, quantum]
}

type rrStream struct {
	id  uint32
	src Source
}

// NewRoundRobin returns a policy that shares the connection fairly: each
// stream in turn may send up to quantum bytes (quantum <= 0 means
// [ChunkSize]) across as many Next calls as max requires, then the turn
// passes to the next stream. Streams with nothing sendable are skipped.
func NewRoundRobin(quantum int) Policy {
	if quantum <= 0 {
		quantum = ChunkSize
	}
	return &roundRobin{quantum: quantum, left: quantum}
}

// Open appends the stream to the rotation; it gets its first turn when the
// rotation reaches the end. Opening an id that is already open moves it to
// the end.
func (r *roundRobin) Open(id uint32, src Source) {
	r.Close(id)
	r.streams = append(r.streams, rrStream{id: id, src: src})
}

// Close removes the stream. If it was the stream whose turn it was, the
// turn passes, whole, to the stream after it.
func (r *roundRobin) Close(id uint32) {
	for i := range r.streams {
		if r.streams[i].id != id {
			continue
		}
		// slices.Delete zeroes the vacated element, dropping its Source.
		r.streams = slices.Delete(r.streams, i, i+1)
		switch {
		case i < r.cur:
			r.cur--
		case i == r.cur:
			r.left = r.quantum
		}
		if r.cur >= len(r.streams) {
			r.cur = 0
		}
		return
	}
}

// Next serves the current stream if it can send, else passes the turn on;
// after one full lap without a sendable stream, nothing can send.
func (r *roundRobin) Next(max int) (id uint32, n int, ok bool) {
	if max < 1 {
		return 0, 0, false
	}
	for range len(r.streams) {
		st := &r.streams[r.cur]
		if k := st.src.Sendable(); k > 0 {
			n = min(k, max, r.left)
			r.left -= n
			id = st.id
			// A stream that sends all it has ends its turn: an idle
			// stream banks no credit, even if it refills before the
			// next call.
			if r.left == 0 || n == k {
				r.advance()
			}
			return id, n, true
		}
		r.advance()
	}
	return 0, 0, false
}

// advance passes the turn to the next stream, with a whole quantum.
func (r *roundRobin) advance() {
	r.cur++
	if r.cur >= len(r.streams) {
		r.cur = 0
	}
	r.left = r.quantum
}
