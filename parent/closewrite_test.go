package parent

import (
	"io"
	"net"
	"net/http"
	"testing"
)

// TestFrontConnsHalfClose: a connection accepted through the front's
// listeners as sluice serve chains them (LimitListener, then GuardFraming)
// can half-close, as the TCP connection under it can: the client reads the
// end at once and may still send, and the gateway still reads what it
// sends. net/http half-closes a connection it closes after an answer; behind
// wrappers that hid CloseWrite, the client saw the end only at the close.
func TestFrontConnsHalfClose(t *testing.T) {
	e := gwStart(t, Config{})
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := e.g.GuardFraming(&http.Server{}, e.g.LimitListener(tcp, 8))
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { // ends with the one Accept
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		accepted <- c
	}()
	client := gwDial(t, tcp.Addr().String())
	server := gwRecv(t, accepted, "the accepted connection")
	if server == nil {
		return
	}
	defer server.Close()
	cw, ok := server.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("the front's connection %T cannot half-close", server)
	}
	if _, err := server.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "answer" {
		t.Fatalf("the client read %q, %v; want the answer, then the end", got, err)
	}
	if _, err := client.Write([]byte("more")); err != nil {
		t.Fatalf("the client's write after the half-close: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "more" {
		t.Fatalf("the gateway read %q, %v after its half-close; want what the client sent", buf, err)
	}
}
