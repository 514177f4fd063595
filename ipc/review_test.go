package ipc

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func client(cfg *Config) func(net.Conn) (*Conn, error) {
	return func(nc net.Conn) (*Conn, error) { return Client(nc, cfg) }
}

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

// TestEndNeverOvertakesHead: with a tiny batch, control frames spill over
// several passes; no END may leave before its stream's HEAD.
func TestEndNeverOvertakesHead(t *testing.T) {
	oc, ac := pair(t, &Config{MaxBatch: 1}, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	for i := 0; i < 20; i++ {
		st, err := oc.OpenStream(ctx, Fields{{":path", strings.Repeat("x", 1000)}}, false)
		if err != nil {
			t.Fatal(err)
		}
		st.CloseWrite()
	}
	for i := 0; i < 20; i++ {
		if _, err := ac.AcceptStream(ctx); err != nil {
			t.Fatalf("stream %d: %v (conn: %v)", i, err, ac.Err())
		}
	}
	if ac.Err() != nil || oc.Err() != nil {
		t.Fatalf("connection ended: %v / %v", ac.Err(), oc.Err())
	}
}

// TestPingFloodEndsConnection: a peer that pings without reading the
// replies cannot grow our queue of control frames without bound.
func TestPingFloodEndsConnection(t *testing.T) {
	p, ac, err := newRawPeer(t, roleOpener, defaultHello(), server(nil))
	if err != nil {
		t.Fatal(err)
	}
	var batch []byte
	for i := 0; i < 10000; i++ {
		batch = appendFrame(batch, framePing, 0, 0, make([]byte, 8))
	}
	for i := 0; i < 100 && ac.Err() == nil; i++ {
		p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := p.nc.Write(batch); err != nil {
			break // the acceptor hung up
		}
	}
	within(t, 10*time.Second, ac.Done(), "the flooded connection to end")
	var pe *ProtocolError
	if !errors.As(ac.Err(), &pe) || !strings.Contains(pe.Msg, "flood") {
		t.Fatalf("Err() = %v; want a protocol error about a control frame flood", ac.Err())
	}
}
