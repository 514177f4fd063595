package ipc

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func head(fields ...string) []byte {
	var f Fields
	for i := 0; i+1 < len(fields); i += 2 {
		f = append(f, Field{fields[i], fields[i+1]})
	}
	return appendFields(nil, f)
}

// TestMalformedInputEndsConnection feeds an acceptor frames that break the
// protocol; each must end the connection with an error naming the fault,
// sent to the peer in a GOAWAY, and never a panic or a leak.
func TestMalformedInputEndsConnection(t *testing.T) {
	cases := []struct {
		name  string
		send  func(p *rawPeer)
		code  Code
		words string
	}{
		{"unknown type", func(p *rawPeer) { p.write(frameType(0x42), 0, 1, nil) }, CodeProtocol, "unknown frame type 0x42"},
		{"oversized frame", func(p *rawPeer) {
			var h [headerSize]byte
			putHeader(h[:], frameHeader{Length: DefaultMaxFramePayload + 1, Type: frameData, StreamID: 1})
			p.writeRaw(h[:])
		}, CodeFrameSize, "exceeds the negotiated maximum"},
		{"oversized head", func(p *rawPeer) {
			var h [headerSize]byte
			putHeader(h[:], frameHeader{Length: maxFieldBlockFrame + 1, Type: frameHead, StreamID: 1})
			p.writeRaw(h[:])
		}, CodeFrameSize, "wrong payload length"},
		{"oversized end", func(p *rawPeer) {
			p.write(frameHead, 0, 1, head(":path", "/"))
			var h [headerSize]byte
			putHeader(h[:], frameHeader{Length: maxFieldBlockFrame + 1, Type: frameEnd, StreamID: 1})
			p.writeRaw(h[:])
		}, CodeFrameSize, "wrong payload length"},
		{"oversized goaway", func(p *rawPeer) {
			p.write(frameGoAway, 0, 0, make([]byte, 8+maxGoAwayMessage+1))
		}, CodeFrameSize, "wrong payload length"},
		{"bad window length", func(p *rawPeer) { p.write(frameWindow, 0, 1, []byte{1, 2}) }, CodeFrameSize, "wrong payload length"},
		{"reserved bits", func(p *rawPeer) {
			b := appendFrame(nil, framePing, 0, 0, make([]byte, 8))
			b[7] = 1
			p.writeRaw(b)
		}, CodeProtocol, "reserved header bytes"},
		{"undefined flag", func(p *rawPeer) { p.write(frameData, 0x80, 1, nil) }, CodeProtocol, "undefined flags"},
		{"data on unknown stream", func(p *rawPeer) { p.write(frameData, 0, 9, []byte("x")) }, CodeProtocol, "no such stream"},
		{"data on stream zero", func(p *rawPeer) { p.write(frameData, 0, 0, []byte("x")) }, CodeProtocol, "must not have stream id 0"},
		{"ping on a stream", func(p *rawPeer) { p.write(framePing, 0, 3, make([]byte, 8)) }, CodeProtocol, "must have stream id 0"},
		{"even stream id", func(p *rawPeer) { p.write(frameHead, 0, 2, head(":path", "/")) }, CodeProtocol, "odd and increasing"},
		{"decreasing stream id", func(p *rawPeer) {
			p.write(frameHead, 0, 5, head(":path", "/"))
			p.write(frameHead, 0, 3, head(":path", "/"))
		}, CodeProtocol, "odd and increasing"},
		{"truncated field block", func(p *rawPeer) { p.write(frameHead, 0, 1, []byte{0, 5, 'a'}) }, CodeProtocol, "field block"},
		{"field value overruns", func(p *rawPeer) {
			b := head("a", "b")
			binary.BigEndian.PutUint32(b[3:], 1000)
			p.write(frameHead, 0, 1, b)
		}, CodeProtocol, "has length 1000"},
		{"data beyond credit", func(p *rawPeer) {
			p.write(frameHead, 0, 1, head(":path", "/"))
			chunk := make([]byte, DefaultMaxFramePayload)
			// The last frame may still be going out when the acceptor
			// hangs up on it: a failed write here is expected.
			for i := 0; i <= DefaultStreamWindow/len(chunk); i++ {
				p.nc.Write(appendFrame(nil, frameData, 0, 1, chunk))
			}
		}, CodeFlowControl, "credit left"},
		{"data after end", func(p *rawPeer) {
			p.write(frameHead, flagEndStream, 1, head(":path", "/"))
			p.write(frameData, 0, 1, []byte("late"))
		}, CodeProtocol, "after its END"},
		{"second head", func(p *rawPeer) {
			p.write(frameHead, 0, 1, head(":path", "/"))
			p.write(frameHead, 0, 1, head(":path", "/"))
		}, CodeProtocol, "second HEAD"},
		{"zero window update", func(p *rawPeer) {
			p.write(frameHead, 0, 1, head(":path", "/"))
			p.write(frameWindow, 0, 1, u32(0))
		}, CodeFlowControl, "WINDOW"},
		{"hello again", func(p *rawPeer) { p.writeRaw(defaultHello().frame()) }, CodeProtocol, "HELLO after the handshake"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, c, err := newRawPeer(t, roleOpener, defaultHello(), server(nil))
			if err != nil {
				t.Fatal(err)
			}
			tc.send(p)
			code, msg := p.readGoAway()
			if code != tc.code || !strings.Contains(msg, tc.words) {
				t.Fatalf("GOAWAY %s %q; want %s mentioning %q", code, msg, tc.code, tc.words)
			}
			within(t, 5*time.Second, c.Done(), "the connection to end")
			var pe *ProtocolError
			if !errors.As(c.Err(), &pe) || !strings.Contains(pe.Msg, tc.words) {
				t.Fatalf("Err() = %v; want a ProtocolError mentioning %q", c.Err(), tc.words)
			}
		})
	}
}

func TestHandshakeMismatch(t *testing.T) {
	cases := []struct {
		name  string
		hello Hello
		role  connRole
		words string
	}{
		{"same role", defaultHello(), roleAcceptor, "both ends claim the role acceptor"},
		{"no common version", Hello{MinVersion: 3, MaxVersion: 4, MaxFramePayload: DefaultMaxFramePayload, StreamWindow: DefaultStreamWindow, MaxStreams: 1}, roleOpener, "no common protocol version"},
		{"tiny frames", Hello{MinVersion: 1, MaxVersion: 1, MaxFramePayload: 100, StreamWindow: DefaultStreamWindow, MaxStreams: 1}, roleOpener, "max frame payload 100"},
		{"zero streams", Hello{MinVersion: 1, MaxVersion: 1, MaxFramePayload: DefaultMaxFramePayload, StreamWindow: DefaultStreamWindow}, roleOpener, "max streams is zero"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c, err := newRawPeer(t, tc.role, tc.hello, server(nil))
			if c != nil || err == nil || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("Server: %v, %v; want an error mentioning %q", c, err, tc.words)
			}
		})
	}
}

func TestHandshakeNotSluice(t *testing.T) {
	a, b := socketpair(t)
	defer a.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Server(b, nil)
		done <- err
	}()
	a.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	err := within(t, 5*time.Second, done, "handshake")
	if err == nil || !strings.Contains(err.Error(), "HELLO") {
		t.Fatalf("got %v; want an error saying the peer did not send HELLO", err)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	a, b := socketpair(t)
	defer a.Close()
	_, err := Server(b, &Config{HandshakeTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "HELLO") {
		t.Fatalf("got %v; want a timeout reading the peer's HELLO", err)
	}
}

// TestLateFramesAfterResetAreDropped: data the peer sent before it saw our
// reset is not a protocol error.
func TestLateFramesAfterResetAreDropped(t *testing.T) {
	p, c, err := newRawPeer(t, roleOpener, defaultHello(), server(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 5*time.Second)
	p.write(frameHead, 0, 1, head(":path", "/"))
	st, err := c.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Reset(CodeRefused)
	h, pl := p.read()
	if h.Type != frameReset || Code(binary.BigEndian.Uint32(pl)) != CodeRefused {
		t.Fatalf("got %s; want RESET REFUSED", h)
	}
	p.write(frameData, 0, 1, []byte("in flight"))
	p.write(frameReset, 0, 1, u32(uint32(CodeCancel)))
	waitFor(t, func() bool { return c.NumStreams() == 0 }, "the stream is forgotten")
	p.write(framePing, 0, 0, make([]byte, 8))
	if h, _ := p.read(); h.Type != framePing || h.Flags != flagAck {
		t.Fatalf("got %s; want the ping answered: late frames must not break the connection", h)
	}
	if c.Err() != nil {
		t.Fatalf("connection broken by late frames: %v", c.Err())
	}
	// Now the stream is closed for good: more data is a protocol error.
	p.write(frameData, 0, 1, []byte("too late"))
	if code, _ := p.readGoAway(); code != CodeProtocol {
		t.Fatalf("GOAWAY %s", code)
	}
}
