package parent

import (
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestLimitListenerHoldsTheExtraInTheBacklog: with two open and busy
// (each has sent a byte, so neither is closed for room), a third
// connection is made by the kernel but not accepted until one closes;
// the gauge follows.
func TestLimitListenerHoldsTheExtraInTheBacklog(t *testing.T) {
	e := gwStart(t, Config{})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := e.g.LimitListener(raw, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			c.Read(make([]byte, 1)) // its byte: busy from now on
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatalf("the kernel refused a connection beyond the limit: %v", err)
		}
		defer c.Close()
		c.Write([]byte("x"))
	}
	first := gwRecv(t, accepted, "the first connection")
	gwRecv(t, accepted, "the second connection")
	if n := gwMetric(t, e.g, "sluice_http_open_connections", nil); n != 2 {
		t.Fatalf("open connections %v; want 2", n)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a third connection (%v) was accepted at the limit of 2", c.RemoteAddr())
	case <-time.After(100 * time.Millisecond):
	}
	if n := gwMetric(t, e.g, "sluice_http_max_connections", nil); n != 2 {
		t.Fatalf("max connections %v; want 2", n)
	}
	first.Close()
	first.Close() // a second Close counts nothing more
	third := gwRecv(t, accepted, "the third connection once one closed")
	defer third.Close()
	if n := gwMetric(t, e.g, "sluice_http_open_connections", nil); n != 2 {
		t.Fatalf("open connections %v after one closed and one came; want 2", n)
	}
}

// TestConnStatsTimeAtLimit: the time at the limit counts from reaching it
// to leaving it, the current stretch included.
func TestConnStatsTimeAtLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &connStats{max: 2}
		c.opened()
		time.Sleep(time.Second) // below the limit: not counted
		c.opened()
		time.Sleep(3 * time.Second)
		if open, _, at := c.snapshot(); open != 2 || at != 3*time.Second {
			t.Fatalf("at the limit: open %d, %v; want 2, 3s", open, at)
		}
		c.closed()
		time.Sleep(time.Second)
		c.opened()
		time.Sleep(2 * time.Second)
		c.closed()
		if open, limit, at := c.snapshot(); open != 1 || limit != 2 || at != 5*time.Second {
			t.Fatalf("after two stretches: open %d, limit %d, %v; want 1, 2, 5s", open, limit, at)
		}
	})
}
