package parent

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// gwGuarded serves e's gateway a second time, on a listener with
// GuardFraming, as sluice serve does, and returns its address.
func gwGuarded(t *testing.T, e *gwEnv) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(e.g)
	srv.Config.ErrorLog = gwPanicLog(t)
	srv.Listener = e.g.GuardFraming(srv.Config, srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// gwCountingWorker adds a worker that reads the whole body and answers
// its length, or 400 with the read's error.
func gwCountingWorker(e *gwEnv) {
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "worker: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %d", r.URL.Path, n)
	}), nil)
}

// gwRawResponse is one response read off a raw connection, its body whole.
type gwRawResponse struct {
	status int
	close  bool // the response said Connection: close
	body   string
}

// gwRawExchange sends req, raw bytes, on a fresh loopback connection to
// addr, and reads responses until the gateway closes the connection. It
// reports whether it did within the bound; a connection still open then
// is the answer "kept open".
func gwRawExchange(t *testing.T, addr, req string) (resps []gwRawResponse, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	// Long enough for the responses, which come at once; a connection
	// kept open is seen as the deadline passing.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return resps, false
			}
			// EOF, or a reset after the last response: closed.
			return resps, err == io.EOF || strings.Contains(err.Error(), "reset") || err == io.ErrUnexpectedEOF
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reading the body of response %d (%d): %v", len(resps)+1, resp.StatusCode, err)
		}
		resps = append(resps, gwRawResponse{resp.StatusCode, resp.Close, string(body)})
	}
}

// A request the client pipelines after the malformed one: it must never be
// answered, as the gateway cannot tell where it starts.
const gwPipelined = "GET /second HTTP/1.1\r\nHost: x\r\n\r\n"

// TestMalformedChunkedBodyGetsOne400: a chunked body whose chunk size is
// not hex gets a single 400 from the gateway (not a 502, as if the worker
// had failed), and its connection is closed: nothing after the bad bytes,
// here a pipelined GET, is answered or taken for a request.
func TestMalformedChunkedBodyGetsOne400(t *testing.T) {
	e := gwStart(t, Config{})
	gwCountingWorker(e)
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for _, bad := range []string{
		"5\r\nhello\r\nzz\r\n\r\n",                // not a hex size
		"5\r\nhello\r\n0\n\r\n",                   // a bare LF
		"5\r\nhelloXX\r\n0\r\n\r\n",               // data past the chunk's size
		"fffffffffffffffffffff\r\nx\r\n0\r\n\r\n", // a size past 64 bits
	} {
		req := "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + bad + gwPipelined
		resps, closed := gwRawExchange(t, addr, req)
		if len(resps) != 1 || resps[0].status != http.StatusBadRequest || !resps[0].close ||
			!strings.Contains(resps[0].body, "request body is malformed") || !closed {
			t.Errorf("body %q: responses %+v, closed %v; want one 400 naming the malformed body, Connection: close, then the connection closed", bad, resps, closed)
		}
	}
	// A well-formed chunked body still gets through, and its connection
	// carries the next request.
	resps, _ := gwRawExchange(t, addr, "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+gwPipelined)
	if len(resps) != 2 || resps[0].body != "/first 5" || resps[1].body != "/second 0" {
		t.Errorf("a good chunked body then a GET: %+v; want both answered", resps)
	}
}

// TestContentLengthWithTransferEncodingClosesConnection: a request with
// both fields is served by its chunked framing (net/http drops the
// Content-Length) and its connection closed after the response (RFC 9112
// section 6.3), so that a request smuggled behind it, which a front proxy
// going by Content-Length would not have seen, is never answered. A chunked
// request without Content-Length keeps its connection.
func TestContentLengthWithTransferEncodingClosesConnection(t *testing.T) {
	e := gwStart(t, Config{})
	gwCountingWorker(e)
	addr := gwGuarded(t, e)
	for _, head := range []string{
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
		"Transfer-Encoding: chunked\r\ncontent-LENGTH: 5\r\n",
	} {
		req := "POST /first HTTP/1.1\r\nHost: x\r\n" + head + "\r\n5\r\nhello\r\n0\r\n\r\n" + gwPipelined
		resps, closed := gwRawExchange(t, addr, req)
		if len(resps) != 1 || resps[0].status != 200 || resps[0].body != "/first 5" || !resps[0].close || !closed {
			t.Errorf("head %q: responses %+v, closed %v; want one 200 of the chunked body, Connection: close, then the connection closed", head, resps, closed)
		}
	}
	resps, closed := gwRawExchange(t, addr, "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+gwPipelined)
	if len(resps) != 2 || resps[0].close || resps[1].body != "/second 0" || closed {
		t.Errorf("chunked alone: responses %+v, closed %v; want both answered on a connection kept open", resps, closed)
	}
}

// TestClScanFindsTheFieldInAnyPieces: the watch finds a Content-Length
// line however the bytes are cut into reads, in any case, and not a name
// that only contains it or a value that mentions it.
func TestClScanFindsTheFieldInAnyPieces(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", true},
		{"POST / HTTP/1.1\nCONTENT-length:5\n\n", true},
		{"POST / HTTP/1.1\r\nHost: x\r\nX-Content-Length: 5\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nHost: x\r\nX-A: Content-Length: 5\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nContent-Lengthy: 5\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nContent-Length 5\r\n\r\n", false},
	}
	for _, tc := range cases {
		for cut := 1; cut <= len(tc.in); cut++ {
			s := clScan{lineStart: true}
			for p := tc.in; p != ""; {
				n := min(cut, len(p))
				s.feed([]byte(p[:n]))
				p = p[n:]
			}
			if s.seen.Load() != tc.want {
				t.Errorf("%q in pieces of %d: seen %v; want %v", tc.in, cut, s.seen.Load(), tc.want)
			}
		}
	}
}

// TestExpectContinueRefusedBodyGetsNo100: a body the gateway refuses
// from its declared length (over --max-body) gets its 413 without a
// 100 Continue first, so that the client never sends it, and the
// connection closes. (net/http sends 100 at the body's first read, which
// the refusal never makes.)
func TestExpectContinueRefusedBodyGetsNo100(t *testing.T) {
	e := gwStart(t, Config{MaxBody: 1000})
	gwCountingWorker(e)
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(gwWait))
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the connection was not closed after the answer: %v; got %q", err, out)
	}
	if !strings.HasPrefix(string(out), "HTTP/1.1 413 ") || strings.Contains(string(out), "100 Continue") {
		t.Fatalf("got %q; want a 413 and no 100 Continue", out)
	}
}

// TestMalformedBodyAfterTheHeadLogsBadBody: a worker that sends its head
// before reading the body, and a client whose chunked body turns malformed
// after that head: the response is cut, and the access log says the body
// was bad, not that the client went away.
func TestMalformedBodyAfterTheHeadLogsBadBody(t *testing.T) {
	e, lines := gwAccess(t, Config{})
	gwHeadFirstWorker(e)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /late HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	c.SetReadDeadline(time.Now().Add(gwWait))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the head: %v, %v; want 200 before the body ends", resp, err)
	}
	io.WriteString(c, "zz\r\n\r\n") // not a hex size
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the response ended whole; want it cut")
	}
	rec := accessLines(t, lines, 1)[0]
	if rec["end"] != "bad_body" {
		t.Errorf("access log end %v; want bad_body", rec["end"])
	}
}
