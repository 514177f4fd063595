package ipc

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// TestHeadEndStreamCrossingResetIsForgotten: the opener resets while the
// acceptor's complete answer (HEAD with END_STREAM) is on the wire; that
// answer is the acceptor's last frame, so the stream must be forgotten.
func TestHeadEndStreamCrossingResetIsForgotten(t *testing.T) {
	p, oc, err := newRawPeer(t, roleAcceptor, defaultHello(), client(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	st, err := oc.OpenStream(ctx, Fields{{":path", "/"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	p.read() // its HEAD
	st.Reset(CodeCancel)
	p.write(frameHead, flagEndStream, st.ID(), head(":status", "204"))
	waitFor(t, func() bool { return oc.NumStreams() == 0 }, "the opener forgets the stream")
}

// TestStreamStateErrors walks one stream through its send states (idle,
// open, closing, done, reset) and checks what each allows.
func TestStreamStateErrors(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	ost, ast := openAccepted(t, ctx, oc, ac, false)
	if err := ost.WriteHead(nil, false); err == nil {
		t.Fatal("WriteHead on an opened stream, whose head is out: no error")
	}
	if _, err := ast.Write([]byte("x")); err != ErrNoHead {
		t.Fatalf("Write before WriteHead: %v, want ErrNoHead", err)
	}
	if err := ast.End(CodeOK, nil); err != ErrNoHead {
		t.Fatalf("End before WriteHead: %v, want ErrNoHead", err)
	}
	if err := ast.WriteHead(Fields{{":status", "200"}}, false); err != nil {
		t.Fatal(err)
	}
	if err := ast.WriteHead(Fields{{":status", "200"}}, false); err == nil {
		t.Fatal("a second WriteHead: no error")
	}
	if _, err := ast.Write([]byte("body")); err != nil {
		t.Fatal(err)
	}
	if err := ast.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := ast.Write([]byte("x")); err != ErrWriteClosed {
		t.Fatalf("Write after CloseWrite: %v, want ErrWriteClosed", err)
	}
	if err := ast.End(CodeOK, nil); err != ErrWriteClosed {
		t.Fatalf("End after CloseWrite: %v, want ErrWriteClosed", err)
	}
	if h, err := ost.ReadHead(ctx); err != nil || h.Get(":status") != "200" {
		t.Fatalf("ReadHead: %v, %v", h, err)
	}
	if b, err := io.ReadAll(ost); err != nil || string(b) != "body" {
		t.Fatalf("ReadAll: %q, %v", b, err)
	}

	// The response is complete; the opener's side is still open. A reset
	// now stops the request and ends the stream at both ends.
	ost.Reset(CodeCancel)
	var se *StreamError
	if _, err := ost.Write([]byte("x")); !errors.As(err, &se) || se.Code != CodeCancel || se.Remote {
		t.Fatalf("Write after Reset: %v, want a local CANCEL reset", err)
	}
	if _, err := io.ReadAll(ast); !errors.As(err, &se) || se.Code != CodeCancel || !se.Remote {
		t.Fatalf("acceptor's Read after the opener's reset: %v, want a remote CANCEL reset", err)
	}
	waitFor(t, func() bool { return oc.NumStreams() == 0 && ac.NumStreams() == 0 }, "both ends forget the stream")
	within(t, 5*time.Second, ost.Context().Done(), "the opener's stream context to end")
	within(t, 5*time.Second, ast.Context().Done(), "the acceptor's stream context to end")
	ost.Reset(CodeInternal) // a no-op: the first reset stands
	if _, err := ost.Write([]byte("x")); !errors.As(err, &se) || se.Code != CodeCancel {
		t.Fatalf("Write after a second Reset: %v, want the first reset's CANCEL", err)
	}
}

// TestResetBeforeResponseHead: a stream reset before its response head
// arrived has no head; ReadHead reports the reset.
func TestResetBeforeResponseHead(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	ost, ast := openAccepted(t, ctx, oc, ac, false)
	ast.Reset(CodeRefused)
	var se *StreamError
	if h, err := ost.ReadHead(ctx); !errors.As(err, &se) || se.Code != CodeRefused || !se.Remote || h != nil {
		t.Fatalf("ReadHead after the acceptor's reset: %v, %v; want a remote REFUSED reset", h, err)
	}
	waitFor(t, func() bool { return oc.NumStreams() == 0 && ac.NumStreams() == 0 }, "both ends forget the stream")
}

// TestEndAfterConnectionFailureStaysFailed: the peer's last DATA and END
// can still sit in the read buffer when the connection fails (a write
// error, a local Close). connFailed drops the data queued so far, so an END
// filed after it must not turn the stream's failure into io.EOF: that
// would pass a truncated response off as a complete one. The reader is
// stopped (Close waits for it) and its handlers are called directly, in
// the order the race would run them.
func TestEndAfterConnectionFailureStaysFailed(t *testing.T) {
	p, oc, st, _ := rawOpenedGET(t)
	p.write(frameHead, 0, st.ID(), head(":status", "200"))
	p.write(frameData, 0, st.ID(), []byte("abc"))
	waitFor(t, func() bool { return st.recvq.Len() == 3 }, "abc queued")
	oc.Close()
	if err := st.onEnd(CodeOK, nil); err != nil {
		t.Fatalf("onEnd after the failure: %v, want it ignored", err)
	}
	b, err := io.ReadAll(st)
	if err == nil {
		t.Fatalf("read %q and io.EOF from a stream whose connection failed before its END was filed", b)
	}
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("read error %v, want the connection's ErrClosed", err)
	}
}

// TestFramesAfterConnectionFailureOpenNothing: a HEAD still in the read
// buffer when the connection fails must not open a stream that the
// failure never saw (its handler would wait for ever), and frames for a
// known stream are not filed either.
func TestFramesAfterConnectionFailureOpenNothing(t *testing.T) {
	p, ac, err := newRawPeer(t, roleOpener, defaultHello(), server(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	p.write(frameHead, 0, 1, head(":path", "/a"))
	if _, err := ac.AcceptStream(ctx); err != nil {
		t.Fatal(err)
	}
	ac.Close()
	h := frameHeader{Type: frameHead, StreamID: 3}
	if err := ac.acceptHead(h, head(":path", "/b")); !errors.Is(err, ErrClosed) {
		t.Fatalf("acceptHead after the failure: %v, want ErrClosed", err)
	}
	if n := ac.NumStreams(); n != 1 {
		t.Fatalf("%d streams after a HEAD filed on a failed connection, want the 1 it had", n)
	}
	if _, err := ac.lookup(frameHeader{Type: frameData, StreamID: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("lookup after the failure: %v, want ErrClosed", err)
	}
	if _, err := ac.AcceptStream(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("AcceptStream after the failure: %v, want ErrClosed", err)
	}
}

// TestCloseWithoutHeadResetsAcceptedStream: an accepted stream closed
// before it answered (its request fully read) must send the opener a
// last frame, or both ends keep its slot until the connection ends.
func TestCloseWithoutHeadResetsAcceptedStream(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	ost, ast := openAccepted(t, ctx, oc, ac, true)
	waitFor(t, ast.PeerEnded, "the request's end")
	ast.Close()
	if _, err := ost.ReadHead(ctx); err == nil {
		t.Fatal("the opener got a head from a stream closed without one")
	}
	waitFor(t, func() bool { return ac.NumStreams() == 0 && oc.NumStreams() == 0 }, "both ends forget the stream")
}

// TestReadHeadReturnsWithWhatCameWithIt: a response whose HEAD, DATA and
// END arrive in one read is whole when ReadHead returns, so its consumer
// can send it on in one write instead of flushing the head alone.
func TestReadHeadReturnsWithWhatCameWithIt(t *testing.T) {
	p, oc, err := newRawPeer(t, roleAcceptor, defaultHello(), client(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	for i := 0; i < 20; i++ {
		st, err := oc.OpenStream(ctx, Fields{{":path", "/"}}, true)
		if err != nil {
			t.Fatal(err)
		}
		p.read()
		var burst []byte
		burst = appendFrame(burst, frameHead, 0, st.ID(), head(":status", "200"))
		burst = appendFrame(burst, frameData, 0, st.ID(), []byte("whole"))
		burst = appendFrame(burst, frameEnd, 0, st.ID(), u32(uint32(CodeOK)))
		p.writeRaw(burst)
		if _, err := st.ReadHead(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-st.Context().Done():
		default:
			t.Fatalf("round %d: ReadHead returned before the DATA and END read with the HEAD were filed", i)
		}
		if b, err := io.ReadAll(st); err != nil || string(b) != "whole" {
			t.Fatalf("round %d: read %q, %v", i, b, err)
		}
	}
}

// TestReadHeadDoesNotWaitForTheNextPayload: a response HEAD followed in
// the same read by only the header of the next frame (its payload still on
// its way, as when the worker stops mid-write) is delivered at once, not
// when that payload arrives.
func TestReadHeadDoesNotWaitForTheNextPayload(t *testing.T) {
	p, _, st, ctx := rawOpenedGET(t)
	var burst []byte
	burst = appendFrame(burst, frameHead, 0, st.ID(), head(":status", "200"))
	end := appendFrame(nil, frameEnd, 0, st.ID(), u32(uint32(CodeOK)))
	burst = append(burst, end[:headerSize]...)
	p.writeRaw(burst)
	if _, err := st.ReadHead(ctx); err != nil {
		t.Fatalf("ReadHead while the next frame's payload is on its way: %v", err)
	}
	p.writeRaw(end[headerSize:])
	if b, err := io.ReadAll(st); err != nil || len(b) != 0 {
		t.Fatalf("read %q, %v", b, err)
	}
}

// rawOpenedGET opens a GET stream, without a body, from an opener to a raw
// peer that has read its HEAD: the raw peer then answers as a test needs.
func rawOpenedGET(t *testing.T) (*rawPeer, *Conn, *Stream, context.Context) {
	t.Helper()
	p, oc, err := newRawPeer(t, roleAcceptor, defaultHello(), client(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	st, err := oc.OpenStream(ctx, Fields{{":path", "/"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	p.read()
	return p, oc, st, ctx
}

// openAccepted opens a stream to "/" on oc (with endStream, a request
// without a body) and returns it with its accepted end on ac.
func openAccepted(t *testing.T, ctx context.Context, oc, ac *Conn, endStream bool) (*Stream, *Stream) {
	t.Helper()
	ost, err := oc.OpenStream(ctx, Fields{{":path", "/"}}, endStream)
	if err != nil {
		t.Fatal(err)
	}
	ast, err := ac.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ost, ast
}
