package stream

import "slices"

// sequential is the default data policy: finish responses in the order they
// were admitted, like RFC 9218's non-incremental priority. Serving the
// oldest stream first means the first response completes first instead of
// every response crawling along and completing together at the end, which
// is what fair sharing does to a burst of large responses.
//
// Two escapes keep it from being head-of-line blocking: a stream with
// nothing sendable (no data queued, or no credit because its client is
// slow) is skipped, and a stream that has sent threshold bytes yields to
// the streams that have sent less, so one huge download cannot hold up
// everything admitted after it.
type sequential struct {
	threshold int64       // <= 0: none
	streams   []seqStream // admission order
}

type seqStream struct {
	id   uint32
	src  Source
	sent int64 // bytes handed out by Next
}

// NewSequential returns the default data policy: streams are served in
// admission order, skipping any with Sendable() == 0, so the first response
// completes first. A stream that has already sent threshold bytes or more
// yields to streams that have sent less: those are served first, in
// admission order, and the streams over the threshold after them, also in
// admission order. threshold <= 0 means no threshold; [DefaultThreshold] is
// the usual value.
func NewSequential(threshold int64) Policy {
	return &sequential{threshold: threshold}
}

// Open appends the stream to the admission order. Opening an id that is
// already open moves it to the end, as a new admission.
func (s *sequential) Open(id uint32, src Source) {
	s.Close(id)
	s.streams = append(s.streams, seqStream{id: id, src: src})
}

// Close removes the stream, keeping the others in admission order.
func (s *sequential) Close(id uint32) {
	for i := range s.streams {
		if s.streams[i].id == id {
			// slices.Delete zeroes the vacated element, dropping its Source.
			s.streams = slices.Delete(s.streams, i, i+1)
			return
		}
	}
}

// Next scans once in admission order: the first sendable stream under the
// threshold wins at once; failing that, the first sendable stream over it.
// The common case, the oldest stream having data and credit, costs one call.
func (s *sequential) Next(max int) (id uint32, n int, ok bool) {
	if max < 1 {
		return 0, 0, false
	}
	over, overN := -1, 0
	for i := range s.streams {
		st := &s.streams[i]
		if s.threshold > 0 && st.sent >= s.threshold {
			if over < 0 {
				if k := st.src.Sendable(); k > 0 {
					over, overN = i, k
				}
			}
			continue
		}
		if k := st.src.Sendable(); k > 0 {
			return s.take(i, k, max)
		}
	}
	if over >= 0 {
		return s.take(over, overN, max)
	}
	return 0, 0, false
}

func (s *sequential) take(i, sendable, max int) (uint32, int, bool) {
	st := &s.streams[i]
	n := min(sendable, max)
	st.sent += int64(n)
	return st.id, n, true
}
