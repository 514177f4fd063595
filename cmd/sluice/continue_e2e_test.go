//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEndToEndExpectContinue: through sluice serve and its demo worker, a
// client that sends "Expect: 100-continue" hears 100 Continue only when the
// worker's handler reads the upload: /upload?max refuses a larger one with
// 413 and no 100, and a smaller one is asked for and summed whole.
func TestEndToEndExpectContinue(t *testing.T) {
	g := startGateway(t, 1)
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", strings.TrimPrefix(g.addr, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return c, bufio.NewReader(c)
	}

	c, br := dial()
	fmt.Fprintf(c, "POST /upload?max=1MiB HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", 8<<20)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("an upload over max: %d (close %v) %q; want 413 with no 100 Continue before it, and the connection closed", resp.StatusCode, resp.Close, msg)
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("after the 413 the connection carried %q", rest)
	}

	c, br = dial()
	body := bytes.Repeat([]byte("upload, "), 300000)
	fmt.Fprintf(c, "POST /upload?max=8MiB HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("first line %q, %v; want 100 Continue", line, err)
	}
	br.ReadString('\n')
	c.Write(body)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	sum := sha256.Sum256(body)
	if want := fmt.Sprintf("%d %s\n", len(body), hex.EncodeToString(sum[:])); resp.StatusCode != http.StatusOK || string(got) != want {
		t.Fatalf("upload answered %d %q, want 200 %q", resp.StatusCode, got, want)
	}
}
