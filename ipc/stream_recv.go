package ipc

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/sluicegw/sluice/stream"
)

// The receiving side of a Stream: the application's Read, CopyTo and
// friends, and the on* methods through which the reader goroutine files
// what the peer sends.

// growWindow is the smallest stream window for which CopyTo lets the
// receive buffer grow to large chunks: the chunk slack (up to two large
// chunks over the window) stays a fraction of what the window allows.
const growWindow = 4 * stream.LargeChunkSize

// Read reads the peer's data. It returns io.EOF after a complete stream, a
// *StreamError after a reset or an END with a failure status, or the
// connection's error.
func (st *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	st.releaseHold()
	for {
		if n := st.readSome(p); n > 0 {
			return n, nil
		}
		if err := st.readError(); err != nil {
			// Data filed before the end was recorded is still queued.
			if n := st.readSome(p); n > 0 {
				return n, nil
			}
			return 0, err
		}
		st.awaitReadable()
	}
}

// readError is what reading reports once the queue is drained: nil while
// more may come.
func (st *Stream) readError() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.readErr
}

// readSome copies what has arrived into p, up to its length, and returns
// the credit for it.
func (st *Stream) readSome(p []byte) int {
	n := st.take(p)
	if n > 0 {
		st.consumed(n)
	}
	return n
}

// take copies what has arrived into p, up to its length, without returning
// credit: the caller does once the bytes have left its hands.
func (st *Stream) take(p []byte) int {
	n := 0
	for n < len(p) {
		seg := st.recvq.Pop(len(p) - n)
		if len(seg.Bytes) == 0 {
			break
		}
		n += copy(p[n:], seg.Bytes)
		seg.Release()
	}
	return n
}

// WriteTo copies the peer's data to w without an intermediate buffer, one
// write per received chunk, until the stream ends. It returns nil after a
// complete stream. See CopyTo for flushing.
func (st *Stream) WriteTo(w io.Writer) (int64, error) { return st.CopyTo(w, nil) }

// CopyTo copies the peer's data to w until the stream ends, returning nil
// after a complete stream.
//
// A network connection pays per write: one 1 MiB write costs far less than
// sixteen of 64 KiB. So CopyTo writes a long run of received bytes (half of
// buf or more) straight from the receive buffer, and gathers shorter runs
// into buf to write them in one call; with a nil buf it writes every run
// directly. Runs are long because CopyTo lets the stream's receive buffer
// grow to 1 MiB chunks once it has carried a MiB (with a window of 4 MiB
// or more), which the connection's reader fills straight from the socket.
//
// If w has a Flush() error method, CopyTo calls it whenever it has written
// everything that arrived so far and is about to wait for more: bytes never
// sit in w's buffer while the stream is idle, and a busy stream pays no
// flush per chunk.
func (st *Stream) CopyTo(w io.Writer, buf []byte) (int64, error) {
	return st.copyTo(w, gatherer{buf: buf, size: len(buf)})
}

// CopyToGathering is CopyTo with its gather buffer lent by p for each
// gathered write alone, rather than held for the whole copy: a copy that
// waits on a slow writer, or for the peer's next bytes, holds no buffer
// but the chunks it is writing. Many slow clients then cost the receive
// windows they hold and nothing more.
func (st *Stream) CopyToGathering(w io.Writer, p *GatherPool) (int64, error) {
	return st.copyTo(w, gatherer{pool: p, size: p.size})
}

// GatherPool lends CopyToGathering gather buffers of one size.
type GatherPool struct {
	size int
	pool sync.Pool
	lent atomic.Int64 // buffers out now, which the tests check
}

// NewGatherPool returns a pool of gather buffers of size bytes.
func NewGatherPool(size int) *GatherPool {
	p := &GatherPool{size: size}
	p.pool.New = func() any { b := make([]byte, size); return &b }
	return p
}

// Get lends a buffer of the pool's size; Put gives it back.
func (p *GatherPool) Get() *[]byte {
	p.lent.Add(1)
	return p.pool.Get().(*[]byte)
}

// Put gives back a buffer that Get lent.
func (p *GatherPool) Put(b *[]byte) {
	p.lent.Add(-1)
	p.pool.Put(b)
}

// gatherer is where copyOnce gathers short runs: a buffer of the caller's,
// or one lent by a pool for each gathered write. size 0 gathers nothing.
type gatherer struct {
	buf  []byte
	pool *GatherPool
	size int
}

func (st *Stream) copyTo(w io.Writer, g gatherer) (int64, error) {
	st.releaseHold()
	large := st.fitChunks(false)
	flusher, _ := w.(interface{ Flush() error })
	dirty := false
	var total int64
	for {
		n, err := st.copyOnce(w, g)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n > 0 {
			dirty = true
			large = st.fitChunks(large)
			continue
		}
		if dirty && flusher != nil {
			if err := flusher.Flush(); err != nil {
				return total, err
			}
			dirty = false
		}
		if rerr := st.readError(); rerr != nil {
			if st.recvq.Len() > 0 {
				continue
			}
			if rerr == io.EOF {
				return total, nil
			}
			return total, rerr
		}
		st.awaitReadable()
	}
}

// fitChunks lets the receive buffer take large chunks while the window is
// large enough (growWindow) for their slack to be a fraction of it, and
// small ones otherwise, since a shared budget grows and shrinks windows
// (see Config.RecvBudget). large is what it decided last; it returns what
// it decides now.
func (st *Stream) fitChunks(large bool) bool {
	want := st.recvWin.Size() >= growWindow
	switch {
	case want && !large:
		// After the first MiB, so that a small response never ties up a
		// large chunk.
		st.recvq.GrowChunks(stream.LargeChunkSize)
	case !want && large:
		st.recvq.GrowChunks(0)
	}
	return want
}

// copyOnce makes at most one write to w of what has arrived, directly from
// the receive buffer or gathered into buf (see CopyTo), and returns what it
// wrote; 0 and nil mean nothing had arrived.
func (st *Stream) copyOnce(w io.Writer, g gatherer) (int, error) {
	seg := st.recvq.Pop(max(g.size, stream.LargeChunkSize))
	k := len(seg.Bytes)
	if k == 0 {
		return 0, nil
	}
	if g.size == 0 || k >= g.size/2 || st.recvq.Len() == 0 {
		// A long run, or all there is (nothing else to gather: a whole
		// small response is one run), is written from where it lies.
		// Credit goes back once the bytes are on their way, not before:
		// the window is what bounds the memory a stream holds.
		n, err := w.Write(seg.Bytes)
		seg.Release()
		st.consumed(k)
		return n, err
	}
	buf := g.buf
	if g.pool != nil {
		pb := g.pool.Get()
		defer g.pool.Put(pb)
		buf = *pb
	}
	copy(buf, seg.Bytes)
	seg.Release()
	k += st.take(buf[k:])
	// As for a direct write, the credit waits for the write: a write that
	// waits on a slow client then holds the gathered bytes and the peer
	// sends no more meanwhile, so a stream holds a window's worth, not a
	// window in its receive buffer and another in the gather buffer.
	n, err := w.Write(buf[:k])
	st.consumed(k)
	return n, err
}

// consumed returns credit to the peer as the application drains the stream,
// in batches (see stream.RecvWindow).
func (st *Stream) consumed(n int) { st.grant(st.recvWin.Consumed(n)) }

// grant sends the peer n bytes of credit, unless n is 0 or the peer's side
// of the stream is over (it sends no more, so credit would be noise).
func (st *Stream) grant(n int) {
	if n == 0 {
		return
	}
	st.mu.Lock()
	over := st.recv.over()
	st.mu.Unlock()
	if !over {
		st.c.out.pushCredit(u32Frame(frameWindow, st.id, uint32(n)))
	}
}

// PeerEnded reports, without blocking, whether the peer has ended its side
// of the stream cleanly (an END with status OK, or a head with END_STREAM)
// and every byte it sent has been read: Read would return io.EOF at once.
// A worker uses it to tell a request without a body from one whose body is
// still coming.
func (st *Stream) PeerEnded() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.readErr == io.EOF && st.recvq.Len() == 0
}

// Buffered is how many bytes of the peer's data have arrived and wait to be
// read: a Read or CopyTo would take them without waiting.
func (st *Stream) Buffered() int { return st.recvq.Len() }

// Trailers are the fields of the peer's END frame, once Read returned io.EOF.
func (st *Stream) Trailers() Fields {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.trailers
}

// The methods below run on the reader goroutine.

// markWoken records that the stream got data and returns whether its reader
// is yet to be put on the list of readers to wake.
func (st *Stream) markWoken() bool {
	if st.pendingWake {
		return false
	}
	st.pendingWake = true
	return true
}

// wake wakes the stream's reader for the data filed since markWoken.
func (st *Stream) wake() {
	st.pendingWake = false
	// Only a stream whose head arrived (or that already failed, which
	// settled it) is ever woken: DATA before the head is a protocol error.
	st.settleHead(nil)
	st.signalReadable()
}

// onHead files the response head of an opened stream.
func (st *Stream) onHead(head Fields, end bool) error {
	st.mu.Lock()
	switch {
	case st.send == sendReset:
		st.mu.Unlock()
		if end {
			// HEAD with END_STREAM is the peer's last frame: the stream
			// can be forgotten now (onEnd's reset branch does it).
			return st.onEnd(CodeOK, nil)
		}
		return nil
	case st.recv != recvHead:
		st.mu.Unlock()
		return protoErrorf(CodeProtocol, "a second HEAD on stream %d", st.id)
	}
	st.head = head
	st.headIn = true
	st.recv = recvOpen
	st.mu.Unlock()
	if end {
		st.settleHead(nil)
		return st.onEnd(CodeOK, nil)
	}
	// Otherwise ReadHead is woken with the stream's reader, once the reader
	// goroutine has filed what else the same read brought (reader.control,
	// reader.wakeAll): a small response's DATA and END usually arrive with
	// its HEAD, and its consumer then finds the whole response in hand and
	// can send it on in one write.
	return nil
}

// onData files n bytes of data from r into the stream's queue.
func (st *Stream) onData(r io.Reader, n int) error {
	st.mu.Lock()
	send, recv := st.send, st.recv
	st.mu.Unlock()
	switch {
	case send == sendReset:
		// Sent before the peer saw our reset; dropped.
		_, err := io.CopyN(io.Discard, r, int64(n))
		return err
	case recv.over():
		return protoErrorf(CodeProtocol, "DATA of %d bytes on stream %d after its END", n, st.id)
	case recv == recvHead:
		return protoErrorf(CodeProtocol, "DATA on stream %d before its response HEAD", st.id)
	}
	if err := st.recvWin.Receive(n); err != nil {
		return protoErrorf(CodeFlowControl, "stream %d: %v", st.id, err)
	}
	// Never blocks for space: the queue holds a full window and the window
	// was just checked. If the stream is reset meanwhile the data is dropped.
	if _, err := st.recvq.Fill(r, n); err != nil {
		return fmt.Errorf("ipc: reading DATA payload of stream %d: %w", st.id, err)
	}
	return nil
}

// onEnd files the peer's END (or a HEAD with END_STREAM).
func (st *Stream) onEnd(code Code, trailers Fields) error {
	st.mu.Lock()
	switch {
	case st.send == sendReset:
		// The peer's last frame, crossing our RESET: nothing to file.
		st.recv = recvEnded
		st.mu.Unlock()
		st.c.forget(st)
		return nil
	case st.readErr != nil && !st.recv.over():
		// The connection failed while this END was still in the read
		// buffer, and its failure dropped data filed before the END: the
		// stream is incomplete, and must never read as io.EOF.
		st.mu.Unlock()
		return nil
	case st.recv.over():
		st.mu.Unlock()
		return protoErrorf(CodeProtocol, "a second END on stream %d", st.id)
	case st.recv == recvHead:
		st.mu.Unlock()
		return protoErrorf(CodeProtocol, "END on stream %d before its response HEAD", st.id)
	}
	st.recv = recvEnded
	st.trailers = trailers
	if code == CodeOK {
		st.readErr = io.EOF
	} else {
		st.readErr = &StreamError{StreamID: st.id, Code: code, Remote: true, Ended: true}
	}
	forget := st.send.over()
	st.mu.Unlock()
	st.recvq.CloseWrite()
	st.recvWin.End()
	st.signalReadable()
	if forget {
		st.c.forget(st)
	}
	return nil
}
