package ipc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

// fuzzConnBound is how long a Conn fed a hostile byte stream may take to
// notice its end: far beyond what a correct one needs, short enough that a
// hang fails the input instead of stalling the fuzzer.
const fuzzConnBound = 5 * time.Second

// FuzzConnFromWorker plays a worker that completes the handshake and then
// sends the fuzzer's bytes, and closes. The parent's Conn has opened stream
// 1 and reads it, so that frames for it exercise the stream code too.
// Whatever the bytes, the parent must not panic, must end the connection
// (the peer is gone) with an error within a bound, and its stream reader
// must return.
func FuzzConnFromWorker(f *testing.F) {
	for _, s := range recordedWorkerFrames(f) {
		f.Add(s)
	}
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := socketpair(t)
		defer b.Close()
		hello := defaultHello()
		hello.role = roleAcceptor
		if _, err := b.Write(hello.frame()); err != nil {
			t.Fatal(err)
		}
		drained := make(chan struct{})
		go func() {
			// Owned by this input: ends when b is closed or a's end goes.
			defer close(drained)
			io.Copy(io.Discard, b)
		}()
		c, err := Client(a, &Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("handshake with a correct HELLO: %v", err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), fuzzConnBound)
		defer cancel()
		st, err := c.OpenStream(ctx, Fields{{":method", "GET"}, {":path", "/"}}, true)
		if err != nil {
			t.Fatalf("opening stream 1: %v", err)
		}
		read := make(chan struct{})
		go func() {
			// Owned by this input: ends when the stream or connection does.
			defer close(read)
			_, err := st.ReadHead(ctx)
			if err == nil {
				io.Copy(io.Discard, st)
			}
		}()
		b.SetWriteDeadline(time.Now().Add(fuzzConnBound))
		b.Write(in) // a Conn that already gave up may refuse the rest
		b.(*net.UnixConn).CloseWrite()
		within(t, fuzzConnBound, c.Done(), "the connection to end after the worker closed")
		if c.Err() == nil {
			t.Fatal("the connection ended without an error although the worker went away")
		}
		within(t, fuzzConnBound, read, "the stream reader to return")
		b.Close()
		within(t, fuzzConnBound, drained, "the peer's reader")
	})
}

// recordConn records what a Conn writes.
type recordConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recordConn) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// recordedWorkerFrames returns what a real worker Conn sends after its
// HELLO while it answers a few requests: seeds made of real frames.
func recordedWorkerFrames(tb testing.TB) [][]byte {
	a, b := socketpair(tb)
	rec := &recordConn{Conn: b}
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Server(rec, &Config{Logger: slog.New(slog.DiscardHandler)})
		ch <- res{c, err}
	}()
	oc, err := Client(a, &Config{Logger: slog.New(slog.DiscardHandler)})
	r := <-ch
	if err != nil || r.err != nil {
		tb.Fatalf("handshake: %v, %v", err, r.err)
	}
	defer oc.Close()
	defer r.c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answers := []func(st *Stream) error{
		func(st *Stream) error {
			return st.WriteResponse(Fields{{":status", "200"}, {"content-type", "text/plain"}}, []byte("hello"), nil)
		},
		func(st *Stream) error {
			if err := st.WriteHead(Fields{{":status", "200"}, {"trailer", "Content-Digest"}}, false); err != nil {
				return err
			}
			if _, err := st.Write(bytes.Repeat([]byte("x"), 100<<10)); err != nil {
				return err
			}
			return st.End(CodeOK, Fields{{"content-digest", "sha-256=:x:"}})
		},
		func(st *Stream) error {
			st.Reset(CodeInternal)
			return nil
		},
	}
	var seeds [][]byte
	for _, answer := range answers {
		before := len(rec.bytes())
		st, err := oc.OpenStream(ctx, Fields{{":method", "GET"}, {":path", "/"}}, true)
		if err != nil {
			tb.Fatal(err)
		}
		ws, err := r.c.AcceptStream(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if err := answer(ws); err != nil {
			tb.Fatal(err)
		}
		if _, err := st.ReadHead(ctx); err == nil {
			io.Copy(io.Discard, st)
		}
		st.Close()
		seeds = append(seeds, rec.bytes()[before:])
	}
	all := rec.bytes()[headerSize+helloSize:]
	// The recorded streams have ids 1, 3, 5; as one input the first
	// stream's answer is what the fuzzed Conn's stream 1 receives.
	return append(seeds, all)
}

// TestCompleteResponseThenGarbageWakesReadHead: a response whose HEAD and
// END arrive in one read with a protocol error after them was forgotten
// before its reader was woken, and the reader loop returned the error
// without waking the readers it had filed data for, so ReadHead waited for
// its context (found by FuzzConnFromWorker). A worker sends a whole response and garbage in one
// write; the parent's ReadHead must return (the head, or an error) once the
// connection has failed.
func TestCompleteResponseThenGarbageWakesReadHead(t *testing.T) {
	p, c, err := newRawPeer(t, roleAcceptor, defaultHello(), client(&Config{Logger: slog.New(slog.DiscardHandler)}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	st, err := c.OpenStream(ctx, Fields{{":method", "GET"}, {":path", "/"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := p.read(); h.Type != frameHead {
		t.Fatalf("got %s; want the request HEAD", h)
	}
	var b []byte
	b = appendFrame(b, frameHead, 0, 1, head(":status", "200"))
	b = appendFrame(b, frameData, 0, 1, []byte("hello"))
	b = appendFrame(b, frameEnd, 0, 1, u32(uint32(CodeOK)))
	b = append(b, "garbage, not a frame header"...)
	p.writeRaw(b)
	within(t, 5*time.Second, c.Done(), "the connection to fail")
	got := make(chan error, 1)
	go func() {
		_, err := st.ReadHead(ctx)
		got <- err
	}()
	within(t, 2*time.Second, got, "ReadHead to return after the connection failed")
}
