package ipc

import (
	"encoding/binary"
	"time"
)

const loadSize = 24

// Load is a worker's report of how busy it is, sent on the connection for
// the parent to show (sluice's /status). The sluice parent does not route by
// it: its own count of the streams it has open on each worker is exact and
// immediate, where a report is late by a frame.
type Load struct {
	// InFlight is how many handlers are running.
	InFlight uint32
	// Waiting is how many accepted streams wait at the admission gate.
	Waiting uint32
	// Limit is the most handlers the worker runs at once.
	Limit uint32
	// QueuedBytes is how many response bytes are queued and not yet written.
	QueuedBytes uint64
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
	binary.BigEndian.PutUint64(p[16:24], l.QueuedBytes)
}

func parseLoad(p []byte) Load {
	return Load{
		InFlight:    binary.BigEndian.Uint32(p[0:4]),
		Waiting:     binary.BigEndian.Uint32(p[4:8]),
		Limit:       binary.BigEndian.Uint32(p[8:12]),
		QueuedBytes: binary.BigEndian.Uint64(p[16:24]),
	}
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
