package ipc

import (
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
	ost, err := oc.OpenStream(ctx, Fields{{":path", "/"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	ast, err := ac.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
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
	ost, err := oc.OpenStream(ctx, Fields{{":path", "/"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	ast, err := ac.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ast.Reset(CodeRefused)
	var se *StreamError
	if h, err := ost.ReadHead(ctx); !errors.As(err, &se) || se.Code != CodeRefused || !se.Remote || h != nil {
		t.Fatalf("ReadHead after the acceptor's reset: %v, %v; want a remote REFUSED reset", h, err)
	}
	waitFor(t, func() bool { return oc.NumStreams() == 0 && ac.NumStreams() == 0 }, "both ends forget the stream")
}
