package parent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// continueHandler refuses /refuse with 413 without reading the body, and
// answers anything else with the size and SHA-256 of the body it read.
func continueHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/refuse" {
		http.Error(w, "too large for this handler", http.StatusRequestEntityTooLarge)
		return
	}
	sum := sha256.New()
	n, err := io.Copy(sum, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(sum.Sum(nil)))
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%d %s", len(b), hex.EncodeToString(s[:]))
}

// rawConn dials e's server over TCP with a deadline for the whole test.
func rawConn(t *testing.T, e *gwEnv) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(gwWait))
	return c, bufio.NewReader(c)
}

// TestExpectContinueRefusedWithoutReading: a handler that answers 413
// without reading gives the client its 413 and no 100 Continue; the
// connection closes after it, and the body the client then sends (bytes
// that look like a request) is never answered as one. With and without
// the gateway's own wrappers of the body (body timeout, size limit).
func TestExpectContinueRefusedWithoutReading(t *testing.T) {
	for _, cfg := range []struct {
		name string
		cfg  Config
	}{{"plain", Config{}}, {"limits", Config{BodyTimeout: time.Minute, MaxBody: 64 << 20}}} {
		for _, framing := range []string{"Content-Length: 10", "Content-Length: 1048576", "Transfer-Encoding: chunked"} {
			t.Run(cfg.name+"/"+framing, func(t *testing.T) {
				e := gwStart(t, cfg.cfg)
				e.addWorker(0, http.HandlerFunc(continueHandler), nil)
				c, br := rawConn(t, e)
				fmt.Fprintf(c, "POST /refuse HTTP/1.1\r\nHost: x\r\n%s\r\nExpect: 100-continue\r\n\r\n", framing)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Fatalf("first response %d, want 413 (no 100 Continue before it)", resp.StatusCode)
				}
				if !resp.Close {
					t.Fatal("the connection stays open after a body it never asked for")
				}
				io.Copy(io.Discard, resp.Body)
				// A client that sends its body anyway: what it sends must
				// not be read as a second request.
				c.Write([]byte("GET /second HTTP/1.1\r\nHost: x\r\n\r\n"))
				if rest, _ := io.ReadAll(br); len(rest) != 0 {
					t.Fatalf("after the 413 the connection carried %q", rest)
				}
				gwUntil(t, "the request counted as unasked", func() bool {
					return gwMetric(t, e.g, "sluice_http_expect_continue_total", map[string]string{"body": "unasked"}) == 1
				})
			})
		}
	}
}

// sendAfterContinue reads a 100 Continue off br, then sends body on c and
// reads the final response.
func sendAfterContinue(t *testing.T, c net.Conn, br *bufio.Reader, body []byte) *http.Response {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("first line %q, %v; want 100 Continue", line, err)
	}
	if blank, _ := br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue followed by %q", blank)
	}
	if _, err := c.Write(body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestExpectContinueReadByTheHandler: a handler that reads gets the body
// whole, after the client was told 100 Continue; the connection then
// carries the next request.
func TestExpectContinueReadByTheHandler(t *testing.T) {
	for _, size := range []int{10, 3 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			e := gwStart(t, Config{})
			e.addWorker(0, http.HandlerFunc(continueHandler), nil)
			c, br := rawConn(t, e)
			body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
			fmt.Fprintf(c, "PUT /store HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", size)
			resp := sendAfterContinue(t, c, br, body)
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(got) != digestOf(body) {
				t.Fatalf("answer %d %q, want 200 %q", resp.StatusCode, got, digestOf(body))
			}
			fmt.Fprintf(c, "POST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(resp.Body); string(got) != digestOf([]byte("abc")) {
				t.Fatalf("next request answered %q", got)
			}
			if n := gwMetric(t, e.g, "sluice_http_expect_continue_total", map[string]string{"body": "asked"}); n != 1 {
				t.Fatalf("%v requests counted as asked, want 1", n)
			}
		})
	}
}

// countingBody counts the reads of a client's request body.
type countingBody struct {
	r     io.Reader
	reads atomic.Int32
}

func (b *countingBody) Read(p []byte) (int, error) { b.reads.Add(1); return b.r.Read(p) }

// TestExpectContinueOverHTTP2: over HTTP/2 too, the client hears 100
// Continue only from a handler that reads, and sends no body to one that
// refuses.
func TestExpectContinueOverHTTP2(t *testing.T) {
	for _, tlsOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) { testExpectContinueOverHTTP2(t, tlsOn) })
	}
}

func testExpectContinueOverHTTP2(t *testing.T, tlsOn bool) {
	e := gwStart(t, Config{})
	e.gwServeH2(tlsOn)
	e.addWorker(0, http.HandlerFunc(continueHandler), nil)
	tr := e.client.Transport.(*http.Transport)
	tr.ExpectContinueTimeout = time.Hour // the client sends nothing before the 100
	body := bytes.Repeat([]byte("h2 body "), 20000)
	for _, path := range []string{"/refuse", "/store"} {
		var got100 atomic.Bool
		trace := &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}
		ctx := httptrace.WithClientTrace(context.Background(), trace)
		cb := &countingBody{r: bytes.NewReader(body)}
		req, _ := http.NewRequestWithContext(ctx, "POST", e.url(path), cb)
		req.ContentLength = int64(len(body))
		req.Header.Set("Expect", "100-continue")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s: served over %s", path, resp.Proto)
		}
		switch path {
		case "/refuse":
			if resp.StatusCode != http.StatusRequestEntityTooLarge || got100.Load() || cb.reads.Load() != 0 {
				t.Fatalf("%s: %d, 100 Continue %v, body reads %d; want 413, no 100, no body sent", path, resp.StatusCode, got100.Load(), cb.reads.Load())
			}
		default:
			if resp.StatusCode != http.StatusOK || !got100.Load() || string(got) != digestOf(body) {
				t.Fatalf("%s: %d %q, 100 Continue %v; want 200 %q after a 100", path, resp.StatusCode, got, got100.Load(), digestOf(body))
			}
		}
	}
}

// TestExpectContinueRetriedWhileUnread: a worker that refuses the stream
// (REFUSED) before anything read the body leaves it unread, so that the
// request goes to another worker even though its body was too large to
// hold; the client hears 100 Continue only from the worker that reads.
func TestExpectContinueRetriedWhileUnread(t *testing.T) {
	e := gwStart(t, Config{Workers: 2})
	raw := e.addRawWorker(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st := raw.accept(t)
		if !st.BodyHeld() {
			t.Error("the stream's body is not held")
		}
		st.Reset(ipc.CodeRefused)
	}()
	c, br := rawConn(t, e)
	body := bytes.Repeat([]byte("r"), 1<<20)
	fmt.Fprintf(c, "POST /store HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	gwRecv(t, done, "the refusal")
	// The retry excludes the worker that refused: it waits for this one.
	e.addWorker(1, http.HandlerFunc(continueHandler), nil)
	resp := sendAfterContinue(t, c, br, body)
	if got, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(got) != digestOf(body) {
		t.Fatalf("answer %d %q", resp.StatusCode, got)
	}
}

// TestExpectContinueRetriedWhileUnreadOverHTTP2: over HTTP/2 as well, a
// body that the refusing worker never asked for goes whole to the next
// one. There an interrupted read closes the request body for good, so the
// end of the refused attempt must not interrupt a read that never began.
func TestExpectContinueRetriedWhileUnreadOverHTTP2(t *testing.T) {
	e := gwStart(t, Config{Workers: 2})
	e.gwServeH2(false)
	raw := e.addRawWorker(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw.accept(t).Reset(ipc.CodeRefused)
	}()
	e.client.Transport.(*http.Transport).ExpectContinueTimeout = time.Hour
	body := bytes.Repeat([]byte("h"), 1<<20)
	req := gwRequest(t, "POST", e.url("/store"), bytes.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	res := make(chan gwResult, 1)
	go func() {
		resp, got, err := e.do(req)
		res <- gwResult{resp, got, err}
	}()
	gwRecv(t, done, "the refusal")
	e.addWorker(1, http.HandlerFunc(continueHandler), nil)
	r := gwRecv(t, res, "the answer")
	if r.err != nil || r.resp.StatusCode != http.StatusOK || r.resp.ProtoMajor != 2 || string(r.body) != digestOf(body) {
		t.Fatalf("answer %v %v %q; want 200 over HTTP/2 with the body's digest", r.err, r.resp, r.body)
	}
}

// TestExpectContinueHandlerNeverReads, on the fake clock: a handler that
// neither reads a held body nor answers is a worker that sends no head,
// bounded by the worker header timeout (a 504); the client's body is never
// read meanwhile, and the body timeout, which starts at the first read,
// does not fire before it.
func TestExpectContinueHandlerNeverReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = time.Minute
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		e := supStart(t, Config{Workers: 1, WorkerHeaderTimeout: timeout, BodyTimeout: time.Second}, &launchFake{handler: mux})
		e.waitUp(1)
		body := &countingBody{r: strings.NewReader("never asked for")}
		req := httptest.NewRequest("POST", "/", body)
		req.ContentLength = 15
		req.Header.Set("Expect", "100-continue")
		rec := newSupRecorder()
		if aborted := e.serveWith(rec, req); aborted || rec.code != http.StatusGatewayTimeout {
			t.Fatalf("a handler that never reads nor answers: %d, aborted %v; want 504", rec.code, aborted)
		}
		if n := body.reads.Load(); n != 0 {
			t.Fatalf("the body was read %d times; want never", n)
		}
		e.waitLog("retired worker stopped", 1)
	})
}

// TestExpectContinueVersion1Worker: a worker that speaks only version 1 of
// the protocol (this one is raw frames) gets no :continue and the body at
// once, within its initial credit; the client hears 100 Continue at once,
// as before held bodies.
func TestExpectContinueVersion1Worker(t *testing.T) {
	e := hostileStart(t, func(w *hostileWorker) error {
		var id uint32
		held, n := false, 0
		for {
			typ, flags, sid, p, err := w.readFrame()
			if err != nil {
				return err
			}
			if err := w.answer(typ, flags, sid, p); err != nil {
				return err
			}
			switch {
			case typ == hwHead && bytes.Contains(p, []byte("/hostile")):
				id, held = sid, bytes.Contains(p, []byte(ipc.FieldContinue))
			case typ == hwData && sid == id && id != 0:
				n += len(p)
			case typ == hwEnd && sid == id && id != 0:
				b := hwFrame(hwHead, 0, id, hwFields(":status", "200"))
				b = append(b, hwFrame(hwData, 0, id, fmt.Appendf(nil, "continue field %v, %d bytes", held, n))...)
				b = append(b, hwFrame(hwEnd, 0, id, []byte{0, 0, 0, 0})...)
				if _, err := w.nc.Write(b); err != nil {
					return err
				}
				return w.keepAlive()
			}
		}
	})
	e.waitUp(1)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(gwWait))
	br := bufio.NewReader(c)
	body := bytes.Repeat([]byte("v"), 100<<10)
	fmt.Fprintf(c, "POST /hostile HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	resp := sendAfterContinue(t, c, br, body)
	got, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("continue field false, %d bytes", len(body)); resp.StatusCode != 200 || string(got) != want {
		t.Fatalf("answer %d %q, want 200 %q", resp.StatusCode, got, want)
	}
}
