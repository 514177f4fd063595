package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEndToEndContentLengthWithChunkedClosesConnection: sluice serve's
// front listener has the framing guard: a request with both
// Content-Length and Transfer-Encoding is answered by its chunked body and
// its connection closed, so that the request pipelined behind it is never
// answered (RFC 9112 section 6.3).
func TestEndToEndContentLengthWithChunkedClosesConnection(t *testing.T) {
	g := startGateway(t, 1)
	c, err := net.Dial("tcp", strings.TrimPrefix(g.addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "5 ") || !resp.Close {
		t.Fatalf("%d %q close=%v; want 200 for the 5 chunked bytes, Connection: close", resp.StatusCode, body, resp.Close)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the response: %q, %v; want the connection closed with nothing more", rest, err)
	}
}
