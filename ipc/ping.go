package ipc

import (
	"context"
	"encoding/binary"
	"time"
)

// Ping sends a ping and waits for its reply, returning the round-trip time.
// Pings and their replies travel as control frames, ahead of all queued data,
// so a busy connection still answers promptly.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return 0, c.err
	}
	c.pingSeq++
	seq := c.pingSeq
	ch := make(chan time.Time, 1)
	c.pings[seq] = ch
	c.mu.Unlock()

	var p [8]byte
	binary.BigEndian.PutUint64(p[:], seq)
	start := time.Now()
	c.out.pushFrame(appendFrame(nil, framePing, 0, 0, p[:]))
	select {
	case at, ok := <-ch:
		if !ok {
			return 0, c.Err()
		}
		rtt := at.Sub(start)
		c.rtt.Store(int64(rtt))
		return rtt, nil
	case <-ctx.Done():
		c.mu.Lock()
		if c.pings != nil {
			delete(c.pings, seq)
		}
		c.mu.Unlock()
		return 0, ctx.Err()
	}
}

// pong completes the ping with this sequence number. A reply to a ping
// that was given up on is ignored.
func (c *Conn) pong(seq uint64) {
	now := time.Now()
	c.mu.Lock()
	ch := c.pings[seq]
	delete(c.pings, seq)
	c.mu.Unlock()
	if ch != nil {
		ch <- now
	}
}
