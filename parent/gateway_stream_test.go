package parent

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
	"github.com/sluicegw/sluice/ipc"
)

// gwDemo is the demo worker as `sluice worker` runs it.
func gwDemo() http.Handler { return digest.Handler(demo.New("")) }

// TestGatewayLargeResponseArrivesIntact: a response several stream windows
// long arrives byte for byte, with the worker's Content-Digest trailer.
func TestGatewayLargeResponseArrivesIntact(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, gwDemo(), nil)
	const size = 24 << 20 // six default stream windows
	req := gwRequest(t, "GET", e.url("/payload?size=24MiB&seed=9"), nil)
	req.Header.Set(digest.WantField, digest.WantSHA256)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum, verify := sha256.New(), digest.NewVerifier()
	n, err := io.Copy(io.MultiWriter(sum, verify), resp.Body)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	want := sha256.New()
	io.Copy(want, demo.Payload(9, size))
	if resp.StatusCode != 200 || n != size || string(sum.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatalf("status %d, %d bytes; want 200 and the %d bytes of the payload", resp.StatusCode, n, size)
	}
	// The digest's trailer needs chunked encoding: digest.Handler drops the
	// length.
	if resp.ContentLength != -1 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("Content-Length %d, Content-Type %q", resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	if err := verify.Check(resp.Trailer.Get(digest.Field)); err != nil {
		t.Fatalf("Content-Digest trailer %q: %v", resp.Trailer.Get(digest.Field), err)
	}
	if got := gwMetric(t, e.g, "sluice_http_response_bytes_total", nil); got != size {
		t.Fatalf("sluice_http_response_bytes_total = %v; want %d", got, size)
	}
}

// TestGatewayFlushPassesThrough: what a handler flushed reaches the client
// while the handler still runs: the handler goes on only once the client
// has read it.
func TestGatewayFlushPassesThrough(t *testing.T) {
	e := gwStart(t, Config{})
	seen := make(chan struct{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gwWriteFlushed(w, r, seen)
	}), nil)
	resp, err := e.client.Get(e.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	gwReadFlushed(t, resp.Body, seen)
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("transfer encoding %v; want chunked", resp.TransferEncoding)
	}
}

// TestGatewayHeadBeforeBody: a response head goes to the client as soon as
// the worker sends it, before any body.
func TestGatewayHeadBeforeBody(t *testing.T) {
	e := gwStart(t, Config{})
	gotHead := make(chan struct{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Early", "1")
		w.WriteHeader(http.StatusAccepted)
		w.(http.Flusher).Flush()
		select {
		case <-gotHead:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "later")
	}), nil)
	resp, err := e.client.Get(e.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Early") != "1" {
		t.Fatalf("head %d %v", resp.StatusCode, resp.Header)
	}
	close(gotHead)
	if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "later" {
		t.Fatalf("body %q, %v", body, err)
	}
	if got := gwMetric(t, e.g, "sluice_http_time_to_first_byte_seconds", nil); got != 1 {
		t.Fatalf("%v time-to-first-byte samples; want 1", got)
	}
}

// TestGatewayTrailersArrive: declared trailers are announced in the head and
// sent after the body; undeclared ones arrive too.
func TestGatewayTrailersArrive(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(200)
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "s1")
		w.Header().Set(http.TrailerPrefix+"X-Late", "l1")
	}), nil)
	resp, err := e.client.Get(e.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, ok := resp.Trailer["X-Sum"]; !ok {
		t.Fatalf("X-Sum not announced: head trailer %v", resp.Trailer)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "body" {
		t.Fatalf("body %q, %v", body, err)
	}
	if resp.Trailer.Get("X-Sum") != "s1" || resp.Trailer.Get("X-Late") != "l1" {
		t.Fatalf("trailers %v; want X-Sum: s1 and X-Late: l1", resp.Trailer)
	}
}

// gwCut reads resp's body to its end and fails unless it ends with
// io.ErrUnexpectedEOF after exactly wantBytes: the client sees the
// response cut, not complete and short.
func gwCut(t *testing.T, resp *http.Response, wantBytes int64) {
	t.Helper()
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("body ended with %v after %d bytes; want unexpected EOF", err, n)
	}
	if wantBytes >= 0 && n != wantBytes {
		t.Fatalf("got %d bytes before the cut; want %d", n, wantBytes)
	}
}

// TestGatewayShortContentLengthIsCut: a handler that declares more bytes
// than it writes ends its stream incomplete; the client sees the
// connection cut, and the slot is free.
func TestGatewayShortContentLengthIsCut(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, strings.Repeat("x", 100))
	}), nil)
	resp, err := e.client.Get(e.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != 1000 {
		t.Fatalf("status %d length %d", resp.StatusCode, resp.ContentLength)
	}
	gwCut(t, resp, 100)
	// The abort unwinds through the slot's release before net/http closes
	// the connection: both are done once the client sees the cut.
	if open := e.gwOpen(); open != 0 {
		t.Fatalf("%d slots held after the cut", open)
	}
	if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "worker"}); got != 1 {
		t.Fatalf("aborted{worker} = %v; want 1", got)
	}
}

// TestGatewayHandlerPanicIsCut: a handler that panics after its head went
// out ends the stream with INTERNAL: with chunked encoding, the client
// never gets the final chunk.
func TestGatewayHandlerPanicIsCut(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("handler bug")
	}), nil)
	resp, err := e.client.Get(e.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("status %d length %d; want a chunked 200", resp.StatusCode, resp.ContentLength)
	}
	gwCut(t, resp, int64(len("partial")))
	if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "worker"}); got != 1 {
		t.Fatalf("aborted{worker} = %v; want 1", got)
	}
}

// TestGatewayPanicBeforeHeadIs500: a handler that panics before writing
// anything is answered 500 by its worker, a complete response.
func TestGatewayPanicBeforeHeadIs500(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("early") }), nil)
	resp, body, err := e.get("/")
	if err != nil || resp.StatusCode != 500 || string(body) != "Internal Server Error\n" {
		t.Fatalf("got %v %v %q; want a complete 500", err, resp, body)
	}
}

// TestGatewayWorkerResetIsCut: a worker that resets its stream after some
// data cuts the client's response.
func TestGatewayWorkerResetIsCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(st *ipc.Stream)
		clen string
	}{
		{"reset, chunked", func(st *ipc.Stream) { st.Reset(ipc.CodeInternal) }, ""},
		{"END with INTERNAL, chunked", func(st *ipc.Stream) { st.End(ipc.CodeInternal, nil) }, ""},
		{"reset, with Content-Length", func(st *ipc.Stream) { st.Reset(ipc.CodeInternal) }, "10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := gwStart(t, Config{})
			raw := e.addRawWorker(0)
			gotData := make(chan struct{})
			got := make(chan error, 1)
			go func() {
				resp, err := e.client.Get(e.url("/"))
				if err != nil {
					got <- err
					return
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("status %d", resp.StatusCode)
				}
				// A reset drops what the gateway has not relayed yet: it
				// comes once the client has the bytes.
				first := make([]byte, 5)
				if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "hello" {
					t.Errorf("first bytes %q, %v", first, err)
				}
				close(gotData)
				n, err := io.Copy(io.Discard, resp.Body)
				if n != 0 {
					t.Errorf("%d more bytes after the data sent; want none", n)
				}
				got <- err
			}()
			st := raw.accept(t)
			head := ipc.Fields{{Name: ":status", Value: "200"}}
			if tc.clen != "" {
				head = append(head, ipc.Field{Name: "Content-Length", Value: tc.clen})
			}
			if err := st.WriteHead(head, false); err != nil {
				t.Fatal(err)
			}
			st.Write([]byte("hello"))
			gwRecv(t, gotData, "the client to read the data")
			tc.end(st)
			if err := gwRecv(t, got, "the client's end"); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("client's body ended with %v; want unexpected EOF", err)
			}
			if open := e.gwOpen(); open != 0 {
				t.Fatalf("%d slots held", open)
			}
			if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "worker"}); got != 1 {
				t.Fatalf("aborted{worker} = %v; want 1", got)
			}
		})
	}
}

// TestGatewayBadResponseHeadIs502: a head the gateway cannot relay (here a
// 1xx as final status) becomes a 502 that says why, and the stream is reset.
func TestGatewayBadResponseHeadIs502(t *testing.T) {
	e := gwStart(t, Config{})
	raw := e.addRawWorker(0)
	res := e.getAsync("/")
	st := raw.accept(t)
	st.WriteHead(ipc.Fields{{Name: ":status", Value: "100"}, {Name: "X-Leak", Value: "1"}}, false)
	r := gwRecv(t, res, "the response")
	want := "sluice: the worker failed before responding: sluice: the worker sent :status \"100\"; want a final status 200..599\n"
	if r.err != nil || r.resp.StatusCode != 502 || string(r.body) != want || r.resp.Header.Get("X-Leak") != "" {
		t.Fatalf("got %v %v %q; want 502 %q without the worker's headers", r.err, r.resp, r.body, want)
	}
	gwRecv(t, st.Context().Done(), "the reset of the worker's stream")
	var se *ipc.StreamError
	if err := context.Cause(st.Context()); !errors.As(err, &se) || se.Code != ipc.CodeProtocol {
		t.Fatalf("the worker's stream ended with %v; want a reset with PROTOCOL", err)
	}
}

// TestGatewayWorkerDiesMidResponse: the worker's connection closing in the
// middle of a response (its process died) cuts the client's response and
// frees the slot.
func TestGatewayWorkerDiesMidResponse(t *testing.T) {
	e := gwStart(t, Config{})
	w := e.addWorker(0, gwDemo(), nil)
	resp, err := e.client.Get(e.url("/payload?size=8GiB"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatalf("first MiB: %v", err)
	}
	w.wnc.Close()
	gwCut(t, resp, -1)
	if open := e.gwOpen(); open != 0 {
		t.Fatalf("%d slots held after the worker died", open)
	}
	if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "worker"}); got != 1 {
		t.Fatalf("aborted{worker} = %v; want 1", got)
	}
	if recs := e.logs.records("response aborted"); len(recs) != 1 || recs[0]["worker"] != 0.0 {
		t.Fatalf("log of the abort: %v", recs)
	}
}

// TestGatewayClientAbortFreesSlot mirrors TestAbortedResponseFreesItsSlot:
// a client that goes away mid-download resets the stream, the handler's
// context ends, and with a single slot the next request is served.
func TestGatewayClientAbortFreesSlot(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: gwWait})
	ended := make(chan error, 4)
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			io.WriteString(w, "small")
			return
		}
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				break
			}
		}
		<-r.Context().Done()
		ended <- context.Cause(r.Context())
	}), &child.Config{MaxInFlight: 1})
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		req := gwRequest(t, "GET", e.url("/endless"), nil).WithContext(ctx)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()
		// The gateway reset the stream: that is what ended the handler.
		var se *ipc.StreamError
		if err := gwRecv(t, ended, "the handler's context to end"); !errors.As(err, &se) || se.Code != ipc.CodeCancel || !se.Remote {
			t.Fatalf("handler context ended by %v; want the gateway's reset with CANCEL", err)
		}
	}
	// One slot: served, not refused, only if the three were given back.
	resp, body, err := e.get("/small")
	if err != nil || resp.StatusCode != 200 || string(body) != "small" {
		t.Fatalf("after aborted downloads: %v %v %q", err, resp, body)
	}
	if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "client"}); got != 3 {
		t.Fatalf("aborted{client} = %v; want 3", got)
	}
	if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "worker"}); got != 0 {
		t.Fatalf("aborted{worker} = %v; want 0", got)
	}
}

// TestGatewayClientGoneBeforeHead: a client that leaves while its handler
// has not answered yet ends the handler's context and frees the slot, and
// is not reported as a worker failure.
func TestGatewayClientGoneBeforeHead(t *testing.T) {
	e := gwStart(t, Config{MaxInFlight: 1, QueueTimeout: gwWait})
	h := gwNewHold()
	e.addWorker(0, h, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req := gwRequest(t, "GET", e.url("/slow"), nil).WithContext(ctx)
	errc := make(chan error, 1)
	go func() {
		resp, err := e.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	gwRecv(t, h.started, "the handler")
	cancel()
	if err := gwRecv(t, errc, "the client's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	if err := gwRecv(t, h.ended, "the handler's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("handler ended with %v; want its context cancelled", err)
	}
	// One slot: this runs only if the abandoned request gave it back.
	next := e.getAsync("/next")
	gwRecv(t, h.started, "the next request")
	h.let(t)
	if r := gwRecv(t, next, "the next response"); r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("next: %v %v", r.err, r.resp)
	}
	if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "502"}); got != 0 {
		t.Fatalf("requests{502} = %v; want 0", got)
	}
	if recs := e.logs.records("request failed before a response"); len(recs) != 0 {
		t.Fatalf("a client that left was logged as a failure: %v", recs)
	}
}

// TestGatewaySlowClientHoldsWorkerBack: credit flows back only as the
// client reads, so a client that stops reading stops its handler's writes
// after a bounded amount; once it reads again, everything arrives.
func TestGatewaySlowClientHoldsWorkerBack(t *testing.T) {
	e := gwStart(t, Config{})
	const size = 64 << 20
	var written atomic.Int64
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		src := gwNewPattern(size)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				written.Add(int64(n))
			}
			if err != nil {
				return
			}
		}
	}), nil)
	resp, err := e.client.Get(e.url("/big"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	// Nothing signals that every buffer on the way is full: wait until the
	// handler stops moving (bounded), then check it stopped short.
	last, still := int64(-1), 0
	gwUntil(t, "the handler stalls", func() bool {
		time.Sleep(10 * time.Millisecond)
		n := written.Load()
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
		return still >= 20
	})
	t.Logf("with the client reading 1 MiB, the handler wrote %d of %d bytes", last, size)
	if last >= size/2 {
		t.Fatalf("the handler wrote %d of %d bytes to a client that read 1 MiB: no backpressure", last, size)
	}
	sum := sha256.New()
	sum.Write(first)
	if n, err := io.Copy(sum, resp.Body); err != nil || n != size-(1<<20) {
		t.Fatalf("rest of the body: %d bytes, %v", n, err)
	}
	if string(sum.Sum(nil)) != gwDigest(gwNewPattern(size)) {
		t.Fatal("the body differs from what the handler wrote")
	}
}

// TestGatewayConcurrentResponses: more requests than slots, over two
// workers, all complete intact.
func TestGatewayConcurrentResponses(t *testing.T) {
	// The overload control is off: on a loaded machine, under the race
	// detector, the 16 requests may come spread over more than its
	// interval, which it reads as growth (overload_test.go covers that).
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 2, QueueTimeout: gwWait, QueueTarget: -1})
	e.addWorker(0, gwDemo(), nil)
	e.addWorker(1, gwDemo(), nil)
	const n = 16
	results := make([]<-chan gwResult, n)
	for i := range results {
		results[i] = e.getAsync("/payload?size=300KiB&seed=" + strconv.Itoa(i))
	}
	for i, ch := range results {
		r := gwRecv(t, ch, "a response")
		want, _ := io.ReadAll(demo.Payload(uint64(i), 300<<10))
		if r.err != nil || r.resp.StatusCode != 200 || string(r.body) != string(want) {
			t.Fatalf("request %d: %v %v, %d bytes", i, r.err, r.resp, len(r.body))
		}
	}
	if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "200"}); got != n {
		t.Fatalf("requests{200} = %v; want %d", got, n)
	}
	gwUntil(t, "every slot is released", func() bool { return e.gwOpen() == 0 })
}

// TestGatewayWorkerOverrunIsWorkerAbort: a worker that sends more body
// than its head allows (past its Content-Length, or any body on a 204) has
// its response cut, and the abort is the worker's: counted and logged as
// such, not blamed on the client.
func TestGatewayWorkerOverrunIsWorkerAbort(t *testing.T) {
	for _, tc := range []struct {
		name string
		head ipc.Fields
	}{
		{"past Content-Length", ipc.Fields{{Name: ":status", Value: "200"}, {Name: "Content-Length", Value: "3"}}},
		{"body on a 204", ipc.Fields{{Name: ":status", Value: "204"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := gwStart(t, Config{})
			raw := e.addRawWorker(0)
			go func() {
				st := raw.accept(t)
				st.WriteHead(tc.head, false)
				st.Write([]byte("abcdef"))
				st.End(ipc.CodeOK, nil)
			}()
			resp, err := e.client.Get(e.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && (!errors.Is(err, io.ErrUnexpectedEOF) || n != 0) {
				t.Fatalf("body: %d bytes, %v; want the response cut", n, err)
			}
			gwUntil(t, "the slot is released", func() bool { return e.gwOpen() == 0 })
			// A 204 is whole at its head: the client may return before the
			// gateway's copy fails, and the slot is freed at the stream's
			// end, before that too. Wait until an abort is counted, of
			// whatever cause, then check which.
			gwUntil(t, "the abort is counted", func() bool {
				return gwMetric(t, e.g, "sluice_http_aborted_total", nil) >= 1
			})
			if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "worker"}); got != 1 {
				t.Errorf("aborted{worker} = %v; want 1", got)
			}
			if got := gwMetric(t, e.g, "sluice_http_aborted_total", map[string]string{"cause": "client"}); got != 0 {
				t.Errorf("aborted{client} = %v; want 0: the client did nothing wrong", got)
			}
			// The log line comes after the count.
			gwUntil(t, "the abort is logged", func() bool { return len(e.logs.records("response aborted")) > 0 })
			if recs := e.logs.records("response aborted"); len(recs) != 1 {
				t.Errorf("log of the abort: %v", recs)
			}
		})
	}
}

// TestGatewayCutHasNoFinalChunk: on the wire, a response whose worker
// failed midway ends without chunked encoding's last chunk, so no HTTP/1.1
// client can take it for complete; a good one ends with it.
func TestGatewayCutHasNoFinalChunk(t *testing.T) {
	e := gwStart(t, Config{})
	raw := e.addRawWorker(0)
	for _, code := range []ipc.Code{ipc.CodeOK, ipc.CodeInternal} {
		go func() {
			st := raw.accept(t)
			st.WriteHead(ipc.Fields{{Name: ":status", Value: "200"}}, false)
			st.Write([]byte("some data"))
			st.End(code, nil)
		}()
		c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(gwWait))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		out, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		if !strings.HasPrefix(s, "HTTP/1.1 200 OK\r\n") || !strings.Contains(s, "\r\nTransfer-Encoding: chunked\r\n") || !strings.Contains(s, "\r\n\r\n9\r\nsome data\r\n") {
			t.Fatalf("END %v: response %q; want a chunked 200 with the data", code, s)
		}
		if complete := strings.HasSuffix(s, "\r\n0\r\n\r\n"); complete != (code == ipc.CodeOK) {
			t.Fatalf("END %v: final chunk present = %v in %q", code, complete, s)
		}
	}
}
