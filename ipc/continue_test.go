package ipc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

var heldHead = Fields{{":method", "PUT"}, {":path", "/up"}, {FieldContinue, "100-continue"}}

// granted reports, without waiting, whether an opened stream with a held
// body got its first credit.
func granted(st *Stream) bool {
	select {
	case <-st.hold.granted:
		return true
	default:
		return false
	}
}

func TestHeldBodyIsGrantedAtTheFirstRead(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	if oc.Version() != 2 {
		t.Fatalf("version %d, want 2", oc.Version())
	}
	st, err := oc.OpenStream(ctx, heldHead, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.sendWin.Available(); n != 0 {
		t.Fatalf("a held stream starts with %d bytes of credit, want 0", n)
	}
	as, err := ac.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !as.BodyHeld() {
		t.Fatal("the accepted stream does not report its body held")
	}
	// A ping's answer follows anything the acceptor queued before it: no
	// grant may be on its way.
	if _, err := oc.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if granted(st) {
		t.Fatal("credit granted before the acceptor's application read")
	}
	body := bytes.Repeat([]byte("held "), 50000)
	read := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(as)
		read <- b
	}()
	if err := st.AwaitCredit(ctx); err != nil {
		t.Fatalf("AwaitCredit: %v", err)
	}
	if n := st.sendWin.Available(); n != DefaultStreamWindow {
		t.Fatalf("first grant %d bytes, want the acceptor's initial credit %d", n, DefaultStreamWindow)
	}
	if as.BodyHeld() {
		t.Fatal("BodyHeld after the application read")
	}
	if _, err := st.Write(body); err != nil {
		t.Fatal(err)
	}
	st.CloseWrite()
	if got := within(t, 5*time.Second, read, "the held body"); !bytes.Equal(got, body) {
		t.Fatalf("got %d bytes, want %d", len(got), len(body))
	}
}

func TestHeldBodyNeverReadEndsWithTheReset(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	st, err := oc.OpenStream(ctx, heldHead, false)
	if err != nil {
		t.Fatal(err)
	}
	as, err := ac.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := as.WriteResponse(Fields{{":status", "413"}}, []byte("too large"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadHead(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(st); err != nil || string(b) != "too large" {
		t.Fatalf("response %q, %v", b, err)
	}
	if granted(st) {
		t.Fatal("credit granted although the handler never read")
	}
	st.Reset(CodeCancel)
	if err := st.AwaitCredit(ctx); err == nil {
		t.Fatal("AwaitCredit returned nil on a stream reset before any grant")
	}
	waitFor(t, func() bool { return oc.NumStreams() == 0 && ac.NumStreams() == 0 }, "both ends forget the stream")
}

func TestHeldBodyAwaitCreditEndsWithItsContext(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	st, err := oc.OpenStream(ctx, heldHead, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.AcceptStream(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.AwaitCredit(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("AwaitCredit with an ended context: %v", err)
	}
	st.Reset(CodeCancel)
}

func TestUnheldStreamsHaveCreditAtOnce(t *testing.T) {
	oc, _ := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	for _, tc := range []struct {
		name string
		head Fields
		end  bool
	}{
		{"no field", Fields{{":method", "PUT"}, {":path", "/"}}, false},
		{"no body", heldHead, true},
	} {
		st, err := oc.OpenStream(ctx, tc.head, tc.end)
		if err != nil {
			t.Fatal(err)
		}
		if st.hold != nil || st.AwaitCredit(ctx) != nil || !tc.end && st.sendWin.Available() != DefaultStreamWindow {
			t.Fatalf("%s: the stream's body is held", tc.name)
		}
		st.Reset(CodeCancel)
	}
}

// A version 1 acceptor knows nothing of held bodies: the opener sends the
// field (an unknown pseudo-field there) and the body at once, within the
// initial credit.
func TestHeldBodyWithAVersion1Acceptor(t *testing.T) {
	p, oc, err := newRawPeer(t, roleAcceptor, defaultHello(), client(nil))
	if err != nil {
		t.Fatal(err)
	}
	if oc.Version() != 1 {
		t.Fatalf("version %d, want 1", oc.Version())
	}
	ctx := ctxTimeout(t, 10*time.Second)
	st, err := oc.OpenStream(ctx, heldHead, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AwaitCredit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("body")); err != nil {
		t.Fatal(err)
	}
	if h, _ := p.read(); h.Type != frameHead {
		t.Fatalf("first frame %s, want HEAD", h)
	}
	if h, pl := p.read(); h.Type != frameData || string(pl) != "body" {
		t.Fatalf("second frame %s %q, want DATA \"body\"", h, pl)
	}
}

// What a worker in another language sees: the WINDOW that grants the
// initial credit comes at the first read, and DATA before it is a
// FLOW_CONTROL error.
func TestHeldBodyOnTheWire(t *testing.T) {
	hello := defaultHello()
	hello.MaxVersion = 2
	p, ac, err := newRawPeer(t, roleOpener, hello, server(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	p.write(frameHead, 0, 1, appendFields(nil, heldHead))
	as, err := ac.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go as.Read(make([]byte, 1))
	h, pl := p.read()
	if h.Type != frameWindow || h.StreamID != 1 || binary.BigEndian.Uint32(pl) != DefaultStreamWindow {
		t.Fatalf("got %s %x, want WINDOW stream 1 of %d", h, pl, DefaultStreamWindow)
	}
	p.write(frameData, 0, 1, []byte("x"))
	p.write(frameEnd, 0, 1, u32(uint32(CodeOK)))

	p.write(frameHead, 0, 3, appendFields(nil, heldHead))
	p.write(frameData, 0, 3, []byte("too soon"))
	if code, msg := p.readGoAway(); code != CodeFlowControl {
		t.Fatalf("GOAWAY %v %q, want FLOW_CONTROL", code, msg)
	}
}
