package ipc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// readBufferSize is the reader's buffer in front of the socket. It holds
// the frame headers and small frames of several streams per read system
// call; the payload of a large DATA frame is read past it, straight from the
// socket into the stream's receive buffer (bufio.Reader does so for a read
// at least as large as its buffer), so most bytes are copied once, by the
// kernel. Hence a size well under the payload of a large frame.
const readBufferSize = 64 << 10

// wakeEvery bounds how much data is filed before the streams' readers are
// woken even though more is already buffered (a peer that never pauses):
// large enough that a busy stream costs few goroutine switches, small next
// to a stream window so the consumer is never held back.
const wakeEvery = 1 << 20

// reader is the connection's only reader. It files each frame where it
// belongs and never waits for an application: data goes into a stream
// buffer sized to the credit this end granted.
//
// Every field is owned by the reader goroutine (readLoop).
type reader struct {
	c     *Conn
	br    *bufio.Reader
	hdr   []byte    // the frame header being read
	buf   []byte    // for non-DATA payloads, grown as they need
	woken []*Stream // streams that got data since the last wake-up
	filed int       // bytes filed since the last wake-up
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	r := &reader{
		c:   c,
		br:  bufio.NewReaderSize(c.nc, readBufferSize),
		hdr: make([]byte, headerSize),
	}
	err := r.run()
	var pe *ProtocolError
	switch {
	case errors.As(err, &pe) && !pe.Remote:
		c.log.Error("ipc protocol error; ending the connection", "role", c.role, "err", err)
		c.protocolFail(pe)
	case c.Err() != nil:
		// Closed locally; the read error is only the consequence.
	case errors.Is(err, io.EOF):
		c.fail(fmt.Errorf("ipc: the peer closed the connection: %w", io.EOF))
	default:
		c.fail(err)
	}
}

// run reads frames until one fails, and returns why.
func (r *reader) run() error {
	for {
		if len(r.woken) > 0 && (r.br.Buffered() < headerSize || r.filed >= wakeEvery) {
			// About to wait on the socket, or a MiB filed: wake the readers
			// of everything filed since. One wake-up per read rather than
			// per frame saves goroutine switches, and a peer that never
			// pauses still gets its data read.
			r.wakeAll()
		}
		// A frame whose header is already buffered came with the read
		// that brought the one before it, whose time is recorded: one
		// clock reading per read rather than per frame (a small
		// response is three or four frames).
		fresh := r.br.Buffered() < headerSize
		h, err := readHeader(r.br, r.hdr, uint32(r.c.local.maxFramePayload))
		if err == nil {
			if fresh {
				r.c.lastFrame.Store(time.Now().UnixNano())
			}
			if h.Type == frameData {
				err = r.data(h)
			} else {
				err = r.control(h)
			}
		}
		if err != nil {
			// What was filed before the failure is whole and stands (a
			// response complete before garbage in the same read): its
			// readers must learn of it. A stream already ended is out of
			// the connection's table, so the failure does not reach it.
			r.wakeAll()
			return err
		}
	}
}

// data files a DATA frame's payload: from the socket (through the read
// buffer, or past it for a large payload) straight into the stream's
// queue, with no staging buffer.
func (r *reader) data(h frameHeader) error {
	if len(r.woken) > 0 && r.br.Buffered() < int(h.Length) {
		// This payload is still arriving (a large frame is read mostly
		// past the buffer): data filed for other streams must not wait
		// for the whole of it.
		r.wakeAll()
	}
	r.filed += int(h.Length)
	st, err := r.c.dataFrame(h, r.br)
	if st != nil && st.markWoken() {
		r.woken = append(r.woken, st)
	}
	return err
}

// control reads a frame other than DATA and acts on it.
func (r *reader) control(h frameHeader) error {
	if int(h.Length) > len(r.buf) {
		// Control payloads are at most 64 KiB (checked with the header),
		// so this settles after a few frames.
		r.buf = make([]byte, max(int(h.Length), 2*len(r.buf), 512))
	}
	if len(r.woken) > 0 && r.br.Buffered() < int(h.Length) {
		// This payload is still on its way: what was filed before it (a
		// response head among them) must not wait for it.
		r.wakeAll()
	}
	p, err := readPayload(r.br, h, r.buf)
	if err != nil {
		return err
	}
	if err := r.c.handle(h, p); err != nil {
		return err
	}
	if h.Type == frameHead && r.c.role == roleOpener && h.Flags&flagEndStream == 0 {
		// A response head wakes ReadHead with the data after it (see
		// Stream.onHead). The stream is still registered: its receive side
		// is open.
		r.c.mu.Lock()
		st := r.c.streams[h.StreamID]
		r.c.mu.Unlock()
		if st != nil && st.markWoken() {
			r.woken = append(r.woken, st)
		}
	}
	return nil
}

// wakeAll wakes the readers of the streams that got data since the last
// wake-up.
func (r *reader) wakeAll() {
	for i, st := range r.woken {
		st.wake()
		r.woken[i] = nil
	}
	r.woken, r.filed = r.woken[:0], 0
}

// handle acts on one frame. p is only valid until it returns.
func (c *Conn) handle(h frameHeader, p []byte) error {
	switch h.Type {
	case frameHello:
		return protoErrorf(CodeProtocol, "HELLO after the handshake")
	case framePing:
		if h.Flags&flagAck != 0 {
			c.pong(binary.BigEndian.Uint64(p))
			return nil
		}
		if n := c.out.pending(); n > maxPendingControl {
			return protoErrorf(CodeProtocol, "control frame flood: %d frames wait to be written while the peer keeps pinging and does not read", n)
		}
		c.out.pushFrame(appendFrame(nil, framePing, flagAck, 0, p))
		return nil
	case frameGoAway:
		return c.onGoAway(p)
	case frameLoad:
		c.onLoadFrame(p)
		return nil
	}
	return c.streamFrame(h, p)
}

// lookup finds the stream a frame is for. A nil stream with a nil error
// means the frame is for a stream that ended and may be ignored.
func (c *Conn) lookup(h frameHeader) (*Stream, error) {
	id := h.StreamID
	c.mu.Lock()
	if err := c.err; err != nil {
		// What is still in the read buffer after a failure is not filed:
		// the failure has already settled every stream.
		c.mu.Unlock()
		return nil, err
	}
	st := c.streams[id]
	var known bool
	if c.role == roleAcceptor {
		known = id%2 == 1 && id <= c.lastPeerID
	} else {
		known = id%2 == 1 && id < c.nextID
	}
	c.mu.Unlock()
	switch {
	case st != nil:
		return st, nil
	case !known:
		return nil, protoErrorf(CodeProtocol, "%s: no such stream was ever opened", h)
	case h.Type == frameWindow || h.Type == frameReset:
		// Credit or a reset can cross our END on the wire; harmless.
		return nil, nil
	default:
		return nil, protoErrorf(CodeProtocol, "%s: the stream has already ended", h)
	}
}

// dataFrame files a DATA frame's payload and returns its stream, whose
// reader is yet to be woken.
func (c *Conn) dataFrame(h frameHeader, r io.Reader) (*Stream, error) {
	st, err := c.lookup(h)
	if st == nil || err != nil {
		if err == nil {
			_, err = io.CopyN(io.Discard, r, int64(h.Length))
		}
		return nil, err
	}
	return st, st.onData(r, int(h.Length))
}

func (c *Conn) streamFrame(h frameHeader, p []byte) error {
	if h.Type == frameHead && c.role == roleAcceptor {
		c.mu.Lock()
		_, open := c.streams[h.StreamID]
		c.mu.Unlock()
		if !open {
			return c.acceptHead(h, p)
		}
	}
	st, err := c.lookup(h)
	if st == nil {
		return err
	}
	switch h.Type {
	case frameHead:
		if c.role == roleAcceptor {
			return protoErrorf(CodeProtocol, "%s: a second HEAD from the opener", h)
		}
		f, err := parseFields(p)
		if err != nil {
			return err
		}
		return st.onHead(f, h.Flags&flagEndStream != 0)
	case frameEnd:
		f, err := parseFields(p[4:])
		if err != nil {
			return err
		}
		return st.onEnd(Code(binary.BigEndian.Uint32(p)), f)
	case frameReset:
		st.onReset(Code(binary.BigEndian.Uint32(p)))
		return nil
	case frameWindow:
		return st.onWindow(binary.BigEndian.Uint32(p))
	}
	return protoErrorf(CodeProtocol, "%s: unexpected frame type", h)
}

// acceptHead opens a stream the peer started. Streams beyond the limit or
// after our go-away are reset with CodeRefused rather than ending the
// connection: they were never processed, so the opener can retry them.
func (c *Conn) acceptHead(h frameHeader, p []byte) error {
	id := h.StreamID
	c.mu.Lock()
	if id%2 == 0 || id <= c.lastPeerID {
		last := c.lastPeerID
		c.mu.Unlock()
		return protoErrorf(CodeProtocol, "%s: stream ids from the opener must be odd and increasing (last was %d)", h, last)
	}
	c.mu.Unlock()
	head, err := parseFields(p)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if err := c.err; err != nil {
		// A failed connection opens nothing: fail saw only the streams
		// registered before it, and a new one would never end.
		c.mu.Unlock()
		return err
	}
	c.lastPeerID = id
	refuse := c.goAwaySent || len(c.streams) >= c.local.maxStreams
	if refuse && len(c.streams) >= 2*c.local.maxStreams {
		// Refused streams stay tracked until the opener answers our
		// RESET; one that keeps opening and never answers is hostile.
		n := len(c.streams)
		c.mu.Unlock()
		return protoErrorf(CodeStreamLimit, "%s: %d streams open or awaiting the answer to a refusal; the limit is %d", h, n, c.local.maxStreams)
	}
	st := newStream(c, id, sendIdle, recvOpen, head)
	if holdsBody(c.ver, head, h.Flags&flagEndStream != 0) {
		st.holdAccepted()
	}
	c.streams[id] = st
	if !refuse {
		c.acceptQueue = append(c.acceptQueue, st)
	}
	c.mu.Unlock()
	if h.Flags&flagEndStream != 0 {
		if err := st.onEnd(CodeOK, nil); err != nil {
			return err
		}
	}
	if refuse {
		st.Reset(CodeRefused)
		return nil
	}
	c.signalAccept()
	return nil
}

func (c *Conn) onGoAway(p []byte) error {
	last := binary.BigEndian.Uint32(p[0:4])
	code := Code(binary.BigEndian.Uint32(p[4:8]))
	msg := string(p[8:])
	if code != CodeOK && code != CodeShutdown {
		return &ProtocolError{Code: code, Msg: msg, Remote: true}
	}
	c.mu.Lock()
	c.goAwayRecv = true
	c.mu.Unlock()
	c.signalAccept()
	c.log.Info("ipc peer is going away", "role", c.role, "last_stream", last, "reason", msg)
	return nil
}

// maxGoAwayMessage bounds the debug text of a GOAWAY frame.
const maxGoAwayMessage = 1024

func goAwayFrame(last uint32, code Code, msg string) []byte {
	if len(msg) > maxGoAwayMessage {
		msg = msg[:maxGoAwayMessage]
	}
	p := make([]byte, 8, 8+len(msg))
	binary.BigEndian.PutUint32(p[0:4], last)
	binary.BigEndian.PutUint32(p[4:8], uint32(code))
	p = append(p, msg...)
	return appendFrame(nil, frameGoAway, 0, 0, p)
}
