package parent

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// gwLimited serves e's gateway on a listener limited to max connections,
// with the ConnState hook, as sluice serve does, and returns its address.
func gwLimited(t *testing.T, e *gwEnv, max int) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(e.g)
	srv.Config.ErrorLog = gwPanicLog(t)
	srv.Listener = e.g.LimitListener(srv.Listener, max)
	srv.Config.ConnState = e.g.ConnState
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// gwDial opens a loopback connection to addr, closed with the test.
func gwDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// gwClosedByPeer reports whether the gateway closed c (a read ends with
// EOF or a reset) within gwWait.
func gwClosedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(gwWait))
	_, err := c.Read(make([]byte, 1))
	ne, timeout := err.(net.Error)
	return err != nil && !(timeout && ne.Timeout())
}

// gwAsk sends a GET of path on c and returns the response's body.
func gwAsk(t *testing.T, c net.Conn, path string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(gwWait))
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestConnLimitMakesRoom: at the limit, a new connection is accepted by
// closing the oldest connection that has sent nothing, then one idle
// between requests; a connection in the middle of a request is never
// closed for room, and with every connection busy the new one waits until
// one is idle.
func TestConnLimitMakesRoom(t *testing.T) {
	e := gwStart(t, Config{})
	// /busy and /late2 wait for their gate; the rest answer at once.
	gates := map[string]chan struct{}{"/busy": make(chan struct{}), "/late2": make(chan struct{})}
	started := make(chan string, 8)
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- r.URL.Path
		if g, ok := gates[r.URL.Path]; ok {
			select {
			case <-g:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}), nil)
	addr := gwLimited(t, e, 2)

	// busy has a request running; idle has had one answered; silent has
	// sent nothing.
	busy := gwDial(t, addr)
	io.WriteString(busy, "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
	gwRecv(t, started, "the busy request's start")
	idle := gwDial(t, addr)
	if b := gwAsk(t, idle, "/idle"); b != "ok /idle" {
		t.Fatalf("idle's request: %q", b)
	}
	gwRecv(t, started, "/idle")
	// At the limit: the next one closes idle, the oldest reusable.
	silent := gwDial(t, addr)
	if !gwClosedByPeer(idle) {
		t.Fatal("the idle connection was not closed to make room")
	}
	// And the next one closes silent, not busy.
	late := gwDial(t, addr)
	if !gwClosedByPeer(silent) {
		t.Fatal("the silent connection was not closed to make room")
	}
	if b := gwAsk(t, late, "/late"); b != "ok /late" {
		t.Fatalf("late's request: %q", b)
	}
	gwRecv(t, started, "/late")
	// busy and late are busy now; a third waits in the backlog until
	// one of them is idle again, and busy's response is whole.
	io.WriteString(late, "GET /late2 HTTP/1.1\r\nHost: x\r\n\r\n")
	gwRecv(t, started, "late's second request")
	waiting := gwDial(t, addr)
	io.WriteString(waiting, "GET /waiting HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case p := <-started:
		t.Fatalf("%s ran with both connections busy at the limit of 2", p)
	case <-time.After(100 * time.Millisecond):
	}
	close(gates["/busy"])
	busy.SetReadDeadline(time.Now().Add(gwWait))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the busy connection's response: %v", err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok /busy" {
		t.Fatalf("the busy connection's response: %q %v", b, err)
	}
	if p := gwRecv(t, started, "the waiting request"); p != "/waiting" {
		t.Fatalf("ran %s; want /waiting", p)
	}
	close(gates["/late2"])
	if n := len(e.logs.records("connection limit reached: closed the oldest connection that was idle or had sent nothing, to make room")); n == 0 {
		t.Errorf("no log line for the connections closed for room:\n%s", e.logs)
	}
}

// TestConnLimitSparesAPipelinedRequest: a request pipelined behind another,
// read with it in one segment, is running although no read followed the
// first one's answer: its connection is not closed to make room.
func TestConnLimitSparesAPipelinedRequest(t *testing.T) {
	e := gwStart(t, Config{})
	gate := make(chan struct{})
	started := make(chan string, 8)
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- r.URL.Path
		if r.URL.Path == "/busy" {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}), nil)
	addr := gwLimited(t, e, 2)
	piped := gwDial(t, addr)
	io.WriteString(piped, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
	gwRecv(t, started, "/a")
	gwRecv(t, started, "/busy")
	silent := gwDial(t, addr)
	late := gwDial(t, addr) // at the limit: closes silent, not piped
	if !gwClosedByPeer(silent) {
		t.Fatal("the silent connection was not closed to make room")
	}
	close(gate)
	piped.SetReadDeadline(time.Now().Add(gwWait))
	br := bufio.NewReader(piped)
	for _, want := range []string{"ok /a", "ok /busy"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the pipelined connection's response %q: %v", want, err)
		}
		if b, err := io.ReadAll(resp.Body); err != nil || string(b) != want {
			t.Fatalf("the pipelined connection's response: %q %v; want %q", b, err, want)
		}
	}
	late.Close()
}
