package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSendTimeoutFlag: --send-timeout reaches the gateway, which cuts a
// client that stops reading a large response and counts it.
func TestSendTimeoutFlag(t *testing.T) {
	g := startGateway(t, 1, "--send-timeout", "300ms")
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(g.addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /payload?size=1GiB HTTP/1.1\r\nHost: sluice\r\n\r\n")
	if !g.waitMetric("sluice_http_send_timeouts_total", 1, 20*time.Second) {
		t.Fatal("no send timeout counted 20s after the client stopped reading")
	}
	// Part of what was sent arrives, then the connection's reset (the
	// kernel drops what the client did not take): far less than the 1 GiB
	// asked for.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	if !errors.Is(err, syscall.ECONNRESET) || n >= 1<<30 {
		t.Fatalf("the client read %d bytes, then %v; want a reset connection", n, err)
	}
}
