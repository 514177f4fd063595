package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sluicegw/sluice/child/demo"
)

// The go-relay floor relays the very bytes the demo handler writes, with
// their length, over a Unix socket, and reuses its connection.
func TestGoRelayRelaysTheDemoBytes(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "relay.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h := demo.New("")
	done := make(chan error, 1)
	go func() { done <- goRelayBackend(ln, h) }()
	front := newGoRelayFront(sock)

	for _, target := range []string{"/payload?size=4096&seed=3", "/payload?size=1MiB", "/payload?size=4096&seed=3"} {
		want := httptest.NewRecorder()
		h.ServeHTTP(want, httptest.NewRequest(http.MethodGet, target, nil))
		got := httptest.NewRecorder()
		front.ServeHTTP(got, httptest.NewRequest(http.MethodGet, target, nil))
		if got.Code != http.StatusOK || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
			t.Errorf("%s: status %d, %d bytes; want 200 and the handler's %d bytes", target, got.Code, got.Body.Len(), want.Body.Len())
		}
		if cl := got.Header().Get("Content-Length"); cl != strconv.Itoa(want.Body.Len()) {
			t.Errorf("%s: Content-Length %q, want %d", target, cl, want.Body.Len())
		}
	}
	if n := len(front.idle); n != 1 {
		t.Errorf("%d idle connections after three requests in turn; want the one, reused", n)
	}

	front.close()
	ln.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("backend ended with %v; want the closed listener's error", err)
	}
	// A backend gone: the front answers 502, not a truncated 200.
	got := httptest.NewRecorder()
	front.ServeHTTP(got, httptest.NewRequest(http.MethodGet, "/payload?size=4096", nil))
	if got.Code != http.StatusBadGateway {
		t.Errorf("with the backend gone: status %d; want 502", got.Code)
	}
}
