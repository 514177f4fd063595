package ipc

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sluicegw/sluice/stream"
)

// writeSizes records what a CopyTo hands to its writer.
type writeSizes struct {
	bytes.Buffer
	sizes []int
}

func (w *writeSizes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return w.Buffer.Write(p)
}

// serveBody answers the next stream on ac with body, written in 64 KiB
// pieces as a handler would.
func serveBody(t *testing.T, ac *Conn, body []byte) <-chan error {
	return serveParts(t, ac, body, nil, nil)
}

// serveParts answers the next stream on ac with first, then, once gate is
// closed (at once for a nil gate), rest, each written in 64 KiB pieces.
func serveParts(t *testing.T, ac *Conn, first []byte, gate <-chan struct{}, rest []byte) <-chan error {
	t.Helper()
	ctx := ctxTimeout(t, 20*time.Second)
	done := make(chan error, 1)
	write := func(st *Stream, body []byte) error {
		for p := body; len(p) > 0; {
			k := min(len(p), 64<<10)
			if _, err := st.Write(p[:k]); err != nil {
				return err
			}
			p = p[k:]
		}
		return nil
	}
	go func() {
		done <- func() error {
			st, err := ac.AcceptStream(ctx)
			if err != nil {
				return err
			}
			if err := st.WriteHead(Fields{{":status", "200"}}, false); err != nil {
				return err
			}
			if err := write(st, first); err != nil {
				return err
			}
			if gate != nil {
				select {
				case <-gate:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := write(st, rest); err != nil {
				return err
			}
			return st.End(CodeOK, nil)
		}()
	}()
	return done
}

// openServed opens a GET on oc, answered by serveBody on ac, and returns
// the stream once its response head arrived.
func openServed(t *testing.T, oc, ac *Conn, body []byte) (*Stream, <-chan error) {
	t.Helper()
	served := serveBody(t, ac, body)
	ctx := ctxTimeout(t, 20*time.Second)
	st, err := oc.OpenStream(ctx, Fields{{":method", "GET"}, {":path", "/"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadHead(ctx); err != nil {
		t.Fatal(err)
	}
	return st, served
}

// TestCopyToWritesLongRunsDirectly checks the two halves of CopyTo's
// contract: the bytes arrive intact and in order, and once the stream has
// carried a MiB its data reaches the writer in runs longer than the gather
// buffer could hold (straight from the receive buffer, no copy) while no
// write is larger than a large chunk.
func TestCopyToWritesLongRunsDirectly(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	body := pattern(7, 24<<20)
	st, served := openServed(t, oc, ac, body)
	buf := make([]byte, 256<<10)
	var w writeSizes
	n, err := st.CopyTo(&w, buf)
	if err != nil || n != int64(len(body)) {
		t.Fatalf("CopyTo: %d bytes, %v; want %d and nil", n, err, len(body))
	}
	if !bytes.Equal(w.Bytes(), body) {
		t.Fatal("copied bytes differ from the body sent")
	}
	long := 0
	for _, s := range w.sizes {
		if s > stream.LargeChunkSize {
			t.Fatalf("a write of %d bytes; runs are at most one large chunk (%d)", s, stream.LargeChunkSize)
		}
		if s > len(buf) {
			long++
		}
	}
	if long == 0 {
		t.Fatalf("no write longer than the %d-byte gather buffer in %d writes %v: long runs are not written directly", len(buf), len(w.sizes), w.sizes)
	}
	if err := within(t, 10*time.Second, served, "server"); err != nil {
		t.Fatal(err)
	}
}

// heldWriter checks, on every write straight from the receive buffer (one
// that does not point into the gather buffer), that the bytes being written
// are still counted against the stream's window: credit for them must go
// back only after the write, since they occupy memory until then.
type heldWriter struct {
	st       *Stream
	buf      []byte
	direct   int
	early    int
	received int
}

func (w *heldWriter) Write(p []byte) (int, error) {
	inBuf := len(p) > 0 && &p[0] == &w.buf[0]
	if !inBuf {
		w.direct++
		if w.st.recvWin.Buffered() < len(p) {
			w.early++
		}
	}
	w.received += len(p)
	return len(p), nil
}

func TestCopyToReturnsCreditAfterDirectWrites(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	st, served := openServed(t, oc, ac, pattern(9, 24<<20))
	w := &heldWriter{st: st, buf: make([]byte, 256<<10)}
	if _, err := st.CopyTo(w, w.buf); err != nil {
		t.Fatal(err)
	}
	if w.received != 24<<20 || w.direct == 0 {
		t.Fatalf("received %d bytes in %d direct writes; want all %d and some direct", w.received, w.direct, 24<<20)
	}
	if w.early > 0 {
		t.Fatalf("%d of %d direct writes had their bytes' credit returned before the write", w.early, w.direct)
	}
	if err := within(t, 10*time.Second, served, "server"); err != nil {
		t.Fatal(err)
	}
}

// TestCopyToWriteErrorStops checks that a failing writer ends the copy
// with its error and the bytes it took.
func TestCopyToWriteErrorStops(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	st, served := openServed(t, oc, ac, pattern(3, 32<<20))
	boom := errors.New("client went away")
	w := &failAfter{left: 3 << 20, err: boom}
	n, err := st.CopyTo(w, make([]byte, 256<<10))
	if !errors.Is(err, boom) || n != w.took {
		t.Fatalf("CopyTo: %d bytes, %v; want %d and the writer's error", n, err, w.took)
	}
	st.Reset(CodeCancel)
	if err := within(t, 10*time.Second, served, "server"); err == nil {
		t.Fatal("the handler's stream ended cleanly although its reader failed")
	}
}

// failAfter takes left bytes, then fails every write.
type failAfter struct {
	left int
	took int64
	err  error
}

func (w *failAfter) Write(p []byte) (int, error) {
	if w.left <= 0 {
		return 0, w.err
	}
	k := min(len(p), w.left)
	w.left -= k
	w.took += int64(k)
	if k < len(p) {
		return k, w.err
	}
	return k, nil
}

// lendingWriter checks, on every write CopyToGathering makes, that a
// gather buffer is lent exactly while a gathered write is under way: a
// write straight from the receive buffer, which may block on a slow
// client, must hold none. Its first write waits until the stream has
// queued at least hold bytes, so that short runs pile up to be gathered.
type lendingWriter struct {
	st       *Stream
	pool     *GatherPool
	hold     int
	deadline time.Time
	buffers  map[*byte]bool // the first byte of every buffer the pool made
	gathered int
	direct   int
	wrong    int
	received bytes.Buffer
}

func (w *lendingWriter) Write(p []byte) (int, error) {
	if w.received.Len() == 0 {
		for w.st.Buffered() < w.hold && time.Now().Before(w.deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	lent := w.pool.lent.Load()
	if len(p) > 0 && w.buffers[&p[:1][0]] {
		w.gathered++
		if lent != 1 {
			w.wrong++
		}
	} else {
		w.direct++
		if lent != 0 {
			w.wrong++
		}
	}
	return w.received.Write(p)
}

func TestCopyToGatheringLendsOnlyForGatheredWrites(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	body := pattern(11, 8<<20)
	st, served := openServed(t, oc, ac, body)
	pool := NewGatherPool(256 << 10)
	w := &lendingWriter{st: st, pool: pool, hold: 512 << 10, deadline: time.Now().Add(10 * time.Second), buffers: map[*byte]bool{}}
	made := pool.pool.New
	pool.pool.New = func() any {
		b := made().(*[]byte)
		w.buffers[&(*b)[0]] = true
		return b
	}
	n, err := st.CopyToGathering(w, pool)
	if err != nil || n != int64(len(body)) {
		t.Fatalf("CopyToGathering: %d bytes, %v; want %d and nil", n, err, len(body))
	}
	if !bytes.Equal(w.received.Bytes(), body) {
		t.Fatal("copied bytes differ from the body sent")
	}
	if w.gathered == 0 || w.direct == 0 {
		t.Fatalf("%d gathered and %d direct writes; the test needs both", w.gathered, w.direct)
	}
	if w.wrong > 0 {
		t.Fatalf("%d of %d writes had a gather buffer lent when they should not, or none when they should", w.wrong, w.gathered+w.direct)
	}
	if l := pool.lent.Load(); l != 0 {
		t.Fatalf("%d gather buffers still lent after the copy", l)
	}
	if err := within(t, 10*time.Second, served, "server"); err != nil {
		t.Fatal(err)
	}
}

// TestCopyToGatheringCreditsAfterTheWrite: the bytes of a gathered write
// stay in the stream's window until the write returns, as a direct write's
// do, so that a write waiting on a slow client holds the gathered bytes
// while the peer sends no more. The peer sends 100 KiB, which fills one
// 64 KiB chunk and part of the next (so CopyToGathering gathers them), and
// waits; the first write sees all of it still unconsumed.
func TestCopyToGatheringCreditsAfterTheWrite(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	first, rest := pattern(21, 100<<10), pattern(22, 30<<10)
	more := make(chan struct{})
	ctx := ctxTimeout(t, 20*time.Second)
	served := serveParts(t, ac, first, more, rest)
	st, err := oc.OpenStream(ctx, Fields{{":method", "GET"}, {":path", "/"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadHead(ctx); err != nil {
		t.Fatal(err)
	}
	for st.Buffered() < len(first) && ctx.Err() == nil {
		time.Sleep(time.Millisecond) // the peer's 100 KiB arriving
	}
	pool := NewGatherPool(256 << 10)
	w := &firstWriteWindow{st: st, pool: pool, more: more}
	if _, err := st.CopyToGathering(w, pool); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.received.Bytes(), append(first, rest...)) {
		t.Fatal("copied bytes differ from the body sent")
	}
	if !w.gathered || w.firstLen != len(first) {
		t.Fatalf("first write: %d bytes, gathered %v; want the peer's %d bytes gathered in one", w.firstLen, w.gathered, len(first))
	}
	if w.inWindow != len(first) {
		t.Fatalf("during the first, gathered write the stream's window counted %d bytes unconsumed; want all %d: their credit went back before the write", w.inWindow, len(first))
	}
	if err := within(t, 10*time.Second, served, "server"); err != nil {
		t.Fatal(err)
	}
}

// firstWriteWindow records, at its first write, its size, whether it was
// a gathered one (a buffer lent), and the bytes the stream's window still
// counts as unconsumed; then it lets the peer send the rest.
type firstWriteWindow struct {
	st       *Stream
	pool     *GatherPool
	more     chan struct{}
	firstLen int
	gathered bool
	inWindow int
	received bytes.Buffer
}

func (w *firstWriteWindow) Write(p []byte) (int, error) {
	if w.received.Len() == 0 {
		w.firstLen, w.gathered, w.inWindow = len(p), w.pool.lent.Load() == 1, w.st.recvWin.Buffered()
		close(w.more)
	}
	return w.received.Write(p)
}
