package stream

import "fmt"

// DefaultThreshold is the bytes a stream may send under the sequential
// policy before it yields to streams that have sent less (32 MiB): large
// enough that ordinary responses finish in admission order, small enough
// that one huge download cannot hold up everything admitted after it.
const DefaultThreshold = 32 << 20

// Policy names accepted by [NewPolicy].
const (
	PolicySequential = "sequential"
	PolicyRoundRobin = "round-robin"
)

// Source is a stream as the writer scheduler sees it.
type Source interface {
	// Sendable returns the bytes this stream could send right now:
	// min(queued, credit); 0 to be skipped. The scheduler reads it on the
	// writer goroutine, where it can only grow between calls (the producer
	// queues more, the peer grants more), so a value read once is safe to
	// send.
	Sendable() int
}

// Policy decides which stream's data goes on the wire next. A Policy is
// owned by one goroutine (the connection's writer) and takes no locks.
type Policy interface {
	// Open adds a stream. Streams are opened in admission order, which is
	// the order the sequential policy serves them in.
	Open(id uint32, src Source)
	// Close removes a stream; closing an unknown id does nothing.
	Close(id uint32)
	// Next picks the stream to send next and how much:
	// 0 < n <= min(max, src.Sendable()). It returns ok=false when no
	// stream can send (or max < 1). Calling Next means the caller WILL
	// send n bytes of that stream: policies account for them.
	Next(max int) (id uint32, n int, ok bool)
}

// NewPolicy returns the policy called name: [PolicySequential] with the
// given threshold, or [PolicyRoundRobin] with the given quantum.
func NewPolicy(name string, threshold int64, quantum int) (Policy, error) {
	switch name {
	case PolicySequential:
		return NewSequential(threshold), nil
	case PolicyRoundRobin:
		return NewRoundRobin(quantum), nil
	}
	return nil, fmt.Errorf("stream: unknown scheduling policy %q: use %q or %q", name, PolicySequential, PolicyRoundRobin)
}

// Scheduler is the writer scheduler of one connection: control frames (ping
// replies, credit, resets, go-away) always go first, in the order they were
// pushed, because they are small and the peer's progress or liveness
// depends on them; data goes after, as the [Policy] decides.
//
// A Scheduler is owned by exactly one goroutine, the connection's writer:
// there are no locks inside.
type Scheduler struct {
	policy Policy
	ctrl   [][]byte // FIFO; ctrl[head:] are pending
	head   int
}

// NewScheduler returns a scheduler that serves data with p, or with
// NewSequential(DefaultThreshold) if p is nil.
func NewScheduler(p Policy) *Scheduler {
	if p == nil {
		p = NewSequential(DefaultThreshold)
	}
	return &Scheduler{policy: p}
}

// PushControl queues an opaque, encoded control frame. Frames are popped
// whole, in push order, before any data; an empty frame is ignored so that
// a popped control frame is always non-empty. The scheduler keeps frame
// until it is popped: the caller must not modify it.
func (s *Scheduler) PushControl(frame []byte) {
	if len(frame) == 0 {
		return
	}
	// Reuse the backing array rather than let a FIFO that is never quite
	// empty grow forever.
	if s.head > 0 && len(s.ctrl) == cap(s.ctrl) {
		k := copy(s.ctrl, s.ctrl[s.head:])
		clear(s.ctrl[k:])
		s.ctrl = s.ctrl[:k]
		s.head = 0
	}
	s.ctrl = append(s.ctrl, frame)
}

// ControlLen returns the number of control frames waiting to be popped.
func (s *Scheduler) ControlLen() int { return len(s.ctrl) - s.head }

// Open adds a stream to the data policy.
func (s *Scheduler) Open(id uint32, src Source) { s.policy.Open(id, src) }

// Close removes a stream from the data policy.
func (s *Scheduler) Close(id uint32) { s.policy.Close(id) }

// Pop returns what to write next: the oldest control frame if there is one
// (control != nil; it is returned whole, whatever max is), else n bytes of
// stream id as the policy picks them, with 0 < n <= max. It returns
// ok=false when there is nothing to do. As with [Policy.Next], popping data
// means the caller will send it.
func (s *Scheduler) Pop(max int) (control []byte, id uint32, n int, ok bool) {
	if s.head < len(s.ctrl) {
		control = s.ctrl[s.head]
		s.ctrl[s.head] = nil // let the frame be collected once sent
		s.head++
		if s.head == len(s.ctrl) {
			s.ctrl, s.head = s.ctrl[:0], 0
		}
		return control, 0, 0, true
	}
	id, n, ok = s.policy.Next(max)
	return nil, id, n, ok
}
