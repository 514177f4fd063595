package ipc

import (
	"encoding/binary"
	"time"
)

// LOAD payload sizes: a report of the first protocol revision carries the
// counts up to QueuedBytes only; a receiver reads the fields it lacks as 0,
// so that a worker written against that revision keeps working.
const (
	loadSizeShort = 24
	loadSize      = 40
)

// Load is a worker's report of how busy it is, sent on the connection. The
// sluice parent routes by it: a worker has room while the streams the parent
// has open on it are fewer than Limit + 2 × Blocked + Draining (docs/PROTOCOL.md,
// "Routing and LOAD"), and /status shows it.
type Load struct {
	// InFlight is how many handlers are running.
	InFlight uint32
	// Waiting is how many accepted streams wait at the admission gate.
	Waiting uint32
	// Limit is the most handlers that may compute at once: the worker's
	// CPU admission limit in force (its hard cap when one is set).
	Limit uint32
	// Blocked is how many running handlers do not count toward Limit
	// because they wait on their client: blocked writing a response the
	// client reads slowly, or reading a request body it sends slowly.
	Blocked uint32
	// QueuedBytes is how many response bytes are queued and not yet written.
	QueuedBytes uint64
	// Draining is how many streams have a handler that returned while
	// their response is still being sent: they hold bytes, not CPU.
	Draining uint32
	// PressurePermille is the CPU pressure the admission controller saw in
	// its last interval, in thousandths of the interval during which
	// runnable work waited for a CPU.
	PressurePermille uint32
	// SchedLatencyMicros is the worker's Go scheduler latency (the time a
	// runnable goroutine waited for a thread) at the 99th percentile over
	// the controller's last interval, in microseconds.
	SchedLatencyMicros uint32
	// FlushLagMicros is the flush lag (how long written response bytes
	// waited to reach the socket) at the 99th percentile over the
	// controller's last interval, in microseconds.
	FlushLagMicros uint32
}

func (l Load) frame() []byte {
	b := make([]byte, headerSize+loadSize)
	l.putFrame(b)
	return b
}

// putFrame writes l's LOAD frame into b, which holds headerSize+loadSize
// bytes.
func (l Load) putFrame(b []byte) {
	putHeader(b, frameHeader{Length: loadSize, Type: frameLoad})
	p := b[headerSize:]
	binary.BigEndian.PutUint32(p[0:4], l.InFlight)
	binary.BigEndian.PutUint32(p[4:8], l.Waiting)
	binary.BigEndian.PutUint32(p[8:12], l.Limit)
	binary.BigEndian.PutUint32(p[12:16], l.Blocked)
	binary.BigEndian.PutUint64(p[16:24], l.QueuedBytes)
	binary.BigEndian.PutUint32(p[24:28], l.Draining)
	binary.BigEndian.PutUint32(p[28:32], l.PressurePermille)
	binary.BigEndian.PutUint32(p[32:36], l.SchedLatencyMicros)
	binary.BigEndian.PutUint32(p[36:40], l.FlushLagMicros)
}

// parseLoad reads a LOAD payload of loadSizeShort or loadSize bytes.
func parseLoad(p []byte) Load {
	l := Load{
		InFlight:    binary.BigEndian.Uint32(p[0:4]),
		Waiting:     binary.BigEndian.Uint32(p[4:8]),
		Limit:       binary.BigEndian.Uint32(p[8:12]),
		Blocked:     binary.BigEndian.Uint32(p[12:16]),
		QueuedBytes: binary.BigEndian.Uint64(p[16:24]),
	}
	if len(p) >= loadSize {
		l.Draining = binary.BigEndian.Uint32(p[24:28])
		l.PressurePermille = binary.BigEndian.Uint32(p[28:32])
		l.SchedLatencyMicros = binary.BigEndian.Uint32(p[32:36])
		l.FlushLagMicros = binary.BigEndian.Uint32(p[36:40])
	}
	return l
}

// SendLoad reports this end's load to the peer. Reports are control frames;
// one not yet sent is replaced by a newer one, so a burst of reports costs
// one frame.
func (c *Conn) SendLoad(l Load) { c.out.pushLoad(l, true) }

// QueueLoad is SendLoad without waking the connection's writer: the report
// leaves with the next frames the connection sends for any reason, or with
// the next SendLoad. It is for reports made so often (a worker's on every
// request) that a wake-up and a write of their own would cost more than the
// report is worth, while traffic or a periodic SendLoad carries them soon.
func (c *Conn) QueueLoad(l Load) { c.out.pushLoad(l, false) }

// PeerLoad is the last load report from the peer and when it arrived (zero
// before the first).
func (c *Conn) PeerLoad() (Load, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerLoad, c.peerLoadAt
}

func (c *Conn) onLoadFrame(p []byte) {
	l := parseLoad(p)
	c.mu.Lock()
	c.peerLoad = l
	c.peerLoadAt = time.Now()
	c.mu.Unlock()
	if c.onLoad != nil {
		c.onLoad(l)
	}
}
