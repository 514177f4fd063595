package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/stream"
)

// Conn is one end of a multiplexed connection. Its methods are safe for
// concurrent use.
//
// Locks, in the order they may be taken (never the reverse):
//
//	Conn.mu → Stream.mu → outbox.mu
//
// Conn.mu guards the connection's own state and its registry of streams,
// Stream.mu one stream's state (see stream_state.go), outbox.mu what other
// goroutines hand the writer. No path holds Conn.mu and a Stream.mu at
// once today: forget, which drops a stream from the registry, runs after
// the stream's lock is released. The locks inside package stream (queues,
// windows, the send budget) come last: none of them is held while an ipc
// lock is taken, and a queue's notify (outbox.kick) takes no lock.
type Conn struct {
	nc     net.Conn
	role   connRole
	local  settings
	peer   Hello
	ver    uint16
	budget *stream.Budget
	onLoad func(Load)
	// onFlushed reports flush lag; nil when nobody listens.
	onFlushed func(time.Duration, int)
	log       *slog.Logger
	policy    stream.Policy // handed to the writer goroutine, which alone uses it

	mu          sync.Mutex
	streams     map[uint32]*Stream // open streams; added by OpenStream and acceptHead, dropped by forget
	nextID      uint32             // opener: the id of the next stream to open
	lastPeerID  uint32             // acceptor: the highest id the peer opened
	goAwaySent  bool
	goAwayRecv  bool
	peerLoad    Load
	peerLoadAt  time.Time
	pings       map[uint64]chan time.Time
	pingSeq     uint64
	acceptQueue []*Stream
	acceptReady chan struct{} // signalled when acceptQueue grows or goaway arrives

	out outbox // frames and scheduler operations for the writer goroutine
	// kick is out.kick as a func value made once: every stream's send
	// queue notifies it, and a method value per stream would allocate.
	kick func()

	lastFrame atomic.Int64 // unix nanoseconds of the last inbound frame
	rtt       atomic.Int64 // nanoseconds, last ping round trip

	failOnce sync.Once
	done     chan struct{}
	err      error // set before done is closed
	wg       sync.WaitGroup
}

// Client performs the handshake as the side that opens streams (the parent)
// and starts the connection's reader and writer. On error nc is closed.
func Client(nc net.Conn, cfg *Config) (*Conn, error) {
	return newConn(nc, cfg, roleOpener)
}

// Server performs the handshake as the side that accepts streams (the
// worker) and starts the connection's reader and writer. On error nc is
// closed.
func Server(nc net.Conn, cfg *Config) (*Conn, error) {
	return newConn(nc, cfg, roleAcceptor)
}

func newConn(nc net.Conn, cfg *Config, role connRole) (*Conn, error) {
	if err := VerifyConfig(cfg); err != nil {
		nc.Close()
		return nil, err
	}
	s := cfg.settings()
	var zero Config
	if cfg == nil {
		cfg = &zero
	}
	policy, err := stream.NewPolicy(cfg.policyName(), s.yieldThreshold, s.quantum)
	if err != nil {
		nc.Close()
		return nil, err
	}
	local := Hello{
		MinVersion:      minVersion,
		MaxVersion:      maxVersion,
		MaxFramePayload: uint32(s.maxFramePayload),
		StreamWindow:    uint32(s.initialWindow),
		MaxStreams:      uint32(s.maxStreams),
		role:            role,
	}
	peer, ver, err := greet(nc, local, s.handshake)
	if err != nil {
		return nil, err
	}
	c := &Conn{
		nc:          nc,
		role:        role,
		local:       s,
		peer:        peer,
		ver:         ver,
		budget:      cfg.SendBudget,
		onLoad:      cfg.OnLoad,
		onFlushed:   cfg.OnFlushed,
		log:         cfg.Logger,
		policy:      policy,
		streams:     make(map[uint32]*Stream),
		nextID:      1,
		pings:       make(map[uint64]chan time.Time),
		acceptReady: make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.out.init()
	c.kick = c.out.kick
	c.lastFrame.Store(time.Now().UnixNano())
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// Version is the negotiated protocol version.
func (c *Conn) Version() int { return int(c.ver) }

// PeerHello is what the peer announced in the handshake.
func (c *Conn) PeerHello() Hello { return c.peer }

// Done is closed when the connection has ended, for whatever reason.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (ErrClosed after Close), or nil while it
// is up.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// LastFrame is when the last frame of any kind arrived from the peer: any
// inbound frame is proof that the peer is alive.
func (c *Conn) LastFrame() time.Time { return time.Unix(0, c.lastFrame.Load()) }

// RTT is the round-trip time of the last answered ping, or 0 before one.
func (c *Conn) RTT() time.Duration { return time.Duration(c.rtt.Load()) }

// NumStreams is how many streams are open (not yet ended in both directions).
func (c *Conn) NumStreams() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams)
}

// Close ends the connection at once: open streams fail with ErrClosed. It
// waits for the connection's goroutines to stop.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// fail ends the connection with err: the first cause wins.
func (c *Conn) fail(err error) {
	c.failOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		close(c.done)
		streams := make([]*Stream, 0, len(c.streams))
		for _, st := range c.streams {
			streams = append(streams, st)
		}
		for _, ch := range c.pings {
			close(ch)
		}
		c.pings = nil
		c.mu.Unlock()
		c.nc.Close()
		for _, st := range streams {
			st.connFailed(err)
		}
		c.out.kick()
		switch {
		case errors.Is(err, ErrClosed):
		case errors.Is(err, io.EOF) && c.GoingAway():
			// The expected end of a drain: the peer finished and hung up.
			c.log.Info("ipc connection closed after go-away", "role", c.role.String())
		default:
			c.log.Warn("ipc connection ended", "role", c.role.String(), "err", err)
		}
	})
}

// protocolFail tells the peer why the connection ends, then ends it. The
// GOAWAY goes through the writer like any control frame; if the writer cannot
// deliver it promptly (the peer is not reading), the connection ends anyway.
func (c *Conn) protocolFail(pe *ProtocolError) {
	c.out.pushFrame(goAwayFrame(c.peerLastID(), pe.Code, pe.Msg))
	c.out.requestFlushThenFail(pe)
	select {
	case <-c.done:
	case <-time.After(time.Second):
		c.fail(pe)
	}
}

// peerLastID is the highest stream id the peer opened so far.
func (c *Conn) peerLastID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastPeerID
}

// OpenStream opens a new stream with the given head (the request head). It
// never blocks on the peer: it fails with ErrStreamLimit when the peer's
// limit is reached, and with ErrGoAway after go-away.
func (c *Conn) OpenStream(ctx context.Context, head Fields, endStream bool) (*Stream, error) {
	if c.role != roleOpener {
		return nil, fmt.Errorf("ipc: OpenStream on the %s end; only the opener opens streams", c.role)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	frame, err := c.headFrame(head, endStream)
	if err != nil {
		return nil, err
	}
	held := holdsBody(c.ver, head, endStream)
	c.mu.Lock()
	switch {
	case c.err != nil:
		c.mu.Unlock()
		return nil, c.err
	case c.goAwaySent || c.goAwayRecv:
		c.mu.Unlock()
		return nil, ErrGoAway
	case len(c.streams) >= int(c.peer.MaxStreams):
		c.mu.Unlock()
		return nil, fmt.Errorf("%w (%d)", ErrStreamLimit, c.peer.MaxStreams)
	case c.nextID > math.MaxUint32-2:
		// Stream ids are spent (2^31 streams): this connection can open no
		// more; the peer finishes what it has and a new one takes over.
		c.goAwaySent = true
		c.out.pushFrame(goAwayFrame(c.nextID-2, CodeShutdown, "stream ids exhausted"))
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: stream ids exhausted", ErrGoAway)
	}
	id := c.nextID
	c.nextID += 2
	send := sendOpen
	if endStream {
		// The HEAD carries END_STREAM: it is our last frame.
		send = sendDone
	}
	st := newStream(c, id, send, recvHead, nil)
	if held {
		st.holdOpened()
	}
	c.streams[id] = st
	putHeader(frame, frameHeader{Length: uint32(len(frame) - headerSize), Type: frameHead, Flags: headFlags(endStream), StreamID: id})
	// Pushed under c.mu so that HEAD frames leave in id order, as the
	// acceptor requires.
	if endStream {
		c.out.pushFrame(frame)
	} else {
		c.out.pushOpen(frame, st)
	}
	c.mu.Unlock()
	return st, nil
}

// forget drops a stream that has ended in both directions. The stream's
// last transition calls it (see stream_state.go); a second call is
// harmless.
func (c *Conn) forget(st *Stream) {
	c.mu.Lock()
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
	}
	c.mu.Unlock()
	st.end(context.Canceled)
}

func headFlags(end bool) frameFlags {
	if end {
		return flagEndStream
	}
	return 0
}

// headFrame encodes a HEAD frame (stream id filled in later) and checks that
// it fits the peer's maximum payload: heads are never split.
func (c *Conn) headFrame(head Fields, end bool) ([]byte, error) {
	return c.appendHeadFrame(nil, head, end)
}

// appendHeadFrame is headFrame appended to buf (nil: a buffer of its own),
// whose spare capacity may hold the frames that follow it.
func (c *Conn) appendHeadFrame(buf []byte, head Fields, end bool) ([]byte, error) {
	n := fieldsSize(head)
	if limit := fieldBlockLimit(c.peer.MaxFramePayload); n > limit {
		return nil, fmt.Errorf("ipc: head of %d bytes exceeds the %d bytes a HEAD frame may carry; send fewer or smaller fields", n, limit)
	}
	for _, f := range head {
		if len(f.Name) == 0 || len(f.Name) > maxFieldName {
			return nil, fmt.Errorf("ipc: field name of %d bytes; names must be 1..%d bytes", len(f.Name), maxFieldName)
		}
	}
	if buf == nil {
		buf = make([]byte, 0, headerSize+n)
	}
	at := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf = appendFields(buf, head)
	putHeader(buf[at:], frameHeader{Length: uint32(n), Type: frameHead, Flags: headFlags(end)})
	return buf, nil
}

// AcceptStream waits for the peer to open a stream. It returns ErrGoAway
// once the peer sent go-away and every stream it opened was accepted, and
// the connection's error once it has ended.
func (c *Conn) AcceptStream(ctx context.Context) (*Stream, error) {
	if c.role != roleAcceptor {
		return nil, fmt.Errorf("ipc: AcceptStream on the %s end; only the acceptor accepts streams", c.role)
	}
	for {
		c.mu.Lock()
		if len(c.acceptQueue) > 0 {
			// Shifted rather than resliced, so that the queue keeps its
			// storage and the next append costs no allocation.
			st := c.acceptQueue[0]
			n := copy(c.acceptQueue, c.acceptQueue[1:])
			c.acceptQueue[n] = nil
			c.acceptQueue = c.acceptQueue[:n]
			c.mu.Unlock()
			return st, nil
		}
		err := c.err
		goAway := c.goAwayRecv
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if goAway {
			return nil, ErrGoAway
		}
		select {
		case <-c.acceptReady:
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// GoAway tells the peer that this end opens or accepts no new streams; the
// open ones go on to their end. Streams the peer opens afterwards are reset
// with CodeRefused, so that it can retry them elsewhere.
func (c *Conn) GoAway(code Code, reason string) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	if c.goAwaySent {
		c.mu.Unlock()
		return nil
	}
	c.goAwaySent = true
	last := c.lastPeerID
	if c.role == roleOpener {
		last = c.nextID - 2
	}
	c.mu.Unlock()
	c.out.pushFrame(goAwayFrame(last, code, reason))
	c.signalAccept()
	return nil
}

// GoingAway reports whether either end has sent go-away.
func (c *Conn) GoingAway() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goAwaySent || c.goAwayRecv
}

func (c *Conn) signalAccept() {
	select {
	case c.acceptReady <- struct{}{}:
	default:
	}
}
