package parent

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestHTTP10CutResponseIsReset: an HTTP/1.0 response without a length ends
// where its connection does, so when its worker fails mid-body the gateway
// resets the connection: the client's read of the body fails, instead of
// ending at a close that makes the cut body look whole.
func TestHTTP10CutResponseIsReset(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 32<<10))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the worker's handler fails mid-body
	}), nil)
	// Plain TCP under the gateway's wrappers, as sluice serve has it (the
	// reset needs the TCP connection).
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := raw.Addr().String()
	t.Cleanup(gwServeFront(e.g, raw))
	for _, proto := range []string{"HTTP/1.0", "HTTP/1.1"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(gwWait))
		io.WriteString(c, "GET /cut "+proto+"\r\nHost: svc.test\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			t.Fatalf("%s: %v", proto, err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		c.Close()
		if err == nil {
			t.Errorf("%s: the cut body read as whole: %d bytes, status %d, %q", proto, n, resp.StatusCode, resp.TransferEncoding)
		} else if proto == "HTTP/1.0" && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: the body's read failed with %v; want a connection reset", proto, err)
		}
	}
}
