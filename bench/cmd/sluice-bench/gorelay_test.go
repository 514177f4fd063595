package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child/demo"
)

// testGoRelay is a go-relay backend of a test, on a Unix socket, and a
// front for it; both stop when the test ends.
type testGoRelay struct {
	front  *goRelayFront
	cancel context.CancelFunc // stops the backend
	done   chan struct{}      // closed when the backend has returned err
	err    error
}

func startTestGoRelay(t *testing.T, h http.Handler) *testGoRelay {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "relay.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &testGoRelay{front: newGoRelayFront(sock), cancel: cancel, done: make(chan struct{})}
	go func() { r.err = goRelayBackend(ctx, ln, h); close(r.done) }()
	t.Cleanup(func() {
		r.front.close()
		cancel()
		<-r.done
	})
	return r
}

// The go-relay floor relays the very bytes and status the demo handler
// writes, with their length, and reuses its connection.
func TestGoRelayRelaysTheDemoBytes(t *testing.T) {
	h := demo.New("")
	front := startTestGoRelay(t, h).front
	long := "/payload?size=4096&pad=" + strings.Repeat("x", 300)
	for _, target := range []string{"/payload?size=4096&seed=3", "/payload?size=1MiB", long, "/payload?size=bogus", "/payload?size=4096&seed=3"} {
		want := httptest.NewRecorder()
		h.ServeHTTP(want, httptest.NewRequest(http.MethodGet, target, nil))
		got := httptest.NewRecorder()
		front.ServeHTTP(got, httptest.NewRequest(http.MethodGet, target, nil))
		if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
			t.Errorf("%.40s: status %d, %d bytes; want the handler's %d and %d bytes", target, got.Code, got.Body.Len(), want.Code, want.Body.Len())
		}
		if cl := got.Header().Get("Content-Length"); cl != strconv.Itoa(want.Body.Len()) {
			t.Errorf("%.40s: Content-Length %q, want %d", target, cl, want.Body.Len())
		}
	}
	if n := len(front.idle); n != 1 {
		t.Errorf("%d idle connections after requests in turn; want the one, reused", n)
	}
	// A target the wire cannot carry is refused before any backend sees it.
	got := httptest.NewRecorder()
	front.ServeHTTP(got, httptest.NewRequest(http.MethodGet, "/payload?pad="+strings.Repeat("x", goRelayMaxTarget), nil))
	if got.Code != http.StatusRequestURITooLong {
		t.Errorf("a target over %d bytes: status %d; want 414", goRelayMaxTarget, got.Code)
	}
}

// A reply that ends short is a 502, never a truncated 200, and its
// connection is not kept.
func TestGoRelayTruncatedReplyIs502(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "short.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var n [4]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(n[:])))
		reply := binary.BigEndian.AppendUint16(nil, http.StatusOK)
		reply = binary.BigEndian.AppendUint64(reply, 4096)
		c.Write(append(reply, make([]byte, 100)...))
	}()
	front := newGoRelayFront(sock)
	defer front.close()
	got := httptest.NewRecorder()
	front.ServeHTTP(got, httptest.NewRequest(http.MethodGet, "/payload?size=4096", nil))
	<-served
	if got.Code != http.StatusBadGateway || len(front.idle) != 0 {
		t.Errorf("a reply of 100 of its 4096 bytes: status %d, %d idle connections; want 502 and none", got.Code, len(front.idle))
	}
}

// The backend stops at its context's end even while the front still holds
// a connection to it, and a closed front keeps no connection.
func TestGoRelayStopsWithConnectionsOpen(t *testing.T) {
	r := startTestGoRelay(t, demo.New(""))
	front := r.front
	front.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/payload?size=16", nil))
	if len(front.idle) != 1 {
		t.Fatalf("%d idle connections; want 1 held open", len(front.idle))
	}
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("backend stopped with %v; want nil", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the backend did not stop within 10 s while a connection to it was open")
	}
	front.close()
	front.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/payload?size=16", nil))
	if len(front.idle) != 0 {
		t.Errorf("%d idle connections after close; want none", len(front.idle))
	}
}
