package ipc

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPing(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	for _, c := range []*Conn{oc, ac} {
		rtt, err := c.Ping(ctx)
		if err != nil || rtt <= 0 {
			t.Fatalf("ping: %v, %v", rtt, err)
		}
		if c.RTT() != rtt {
			t.Fatalf("RTT() %v, ping returned %v", c.RTT(), rtt)
		}
	}
	before := oc.LastFrame()
	if _, err := ac.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if !oc.LastFrame().After(before) {
		t.Fatal("an inbound ping did not count as proof of life")
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
