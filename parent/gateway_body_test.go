package parent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/ipc"
)

// gwEcho answers with the request's method and body, naming its worker.
func gwEcho(id int, calls *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Worker", fmt.Sprint(id))
		fmt.Fprintf(w, "%s %d:", r.Method, r.ContentLength)
		w.Write(body)
	})
}

// TestGatewayRetriesRefusedStreamElsewhere: a stream the first worker
// refuses (REFUSED: never started) runs on another worker, with its body
// when the gateway held it.
func TestGatewayRetriesRefusedStreamElsewhere(t *testing.T) {
	for _, tc := range []struct {
		method string
		body   string
	}{
		{"GET", ""},
		{"POST", strings.Repeat("held body ", 400)},
		{"POST", strings.Repeat("b", maxRetryBody)},
	} {
		t.Run(fmt.Sprintf("%s %d bytes", tc.method, len(tc.body)), func(t *testing.T) {
			// A hard cap, so that routing ignores the load reports of
			// worker 1 and the tie goes to the first worker.
			e := gwStart(t, Config{Workers: 2, MaxInFlight: 2})
			raw := e.addRawWorker(0) // first on a tie: it gets the first attempt
			var calls atomic.Int32
			e.addWorker(1, gwEcho(1, &calls), nil)
			refused := make(chan struct{})
			go func() {
				st := raw.accept(t)
				st.Reset(ipc.CodeRefused)
				close(refused)
			}()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			resp, got, err := e.do(gwRequest(t, tc.method, e.url("/echo"), body))
			if err != nil {
				t.Fatal(err)
			}
			gwRecv(t, refused, "the refusal")
			want := fmt.Sprintf("%s %d:%s", tc.method, len(tc.body), tc.body)
			if resp.StatusCode != 200 || resp.Header.Get("X-Worker") != "1" || string(got) != want {
				t.Fatalf("got %d from worker %q, %d bytes; want 200 from worker 1 with the body", resp.StatusCode, resp.Header.Get("X-Worker"), len(got))
			}
			if calls.Load() != 1 {
				t.Fatalf("handler ran %d times", calls.Load())
			}
			if got := gwMetric(t, e.g, "sluice_http_retried_total", nil); got != 1 {
				t.Fatalf("retried = %v; want 1", got)
			}
		})
	}
}

// TestGatewayRefusedRetriesAreBounded: a request every worker refuses is
// answered 502 after maxNeverStarted attempts, not retried for ever.
func TestGatewayRefusedRetriesAreBounded(t *testing.T) {
	e := gwStart(t, Config{Workers: 3})
	raws := []*gwRaw{e.addRawWorker(0), e.addRawWorker(1), e.addRawWorker(2)}
	accepted := make(chan int, maxNeverStarted)
	for _, r := range raws {
		go func() {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), gwWait)
				st, err := r.peer.AcceptStream(ctx)
				cancel()
				if err != nil {
					return // the test is over: its conn closed
				}
				accepted <- r.id
				st.Reset(ipc.CodeRefused)
			}
		}()
	}
	resp, body, err := e.get("/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 502 || !strings.HasPrefix(string(body), "sluice: the worker failed before responding: ") || !strings.Contains(string(body), "REFUSED") {
		t.Fatalf("got %d %q; want 502 naming the refusal", resp.StatusCode, body)
	}
	prev := -1
	for i := 0; i < maxNeverStarted; i++ {
		id := gwRecv(t, accepted, "an attempt")
		if id == prev {
			t.Fatalf("attempt %d went to worker %d again, right after its refusal", i+1, id)
		}
		prev = id
	}
	select {
	case id := <-accepted:
		t.Fatalf("attempt %d, on worker %d: more than %d", maxNeverStarted+1, id, maxNeverStarted)
	default:
	}
	if got := gwMetric(t, e.g, "sluice_http_retried_total", nil); got != maxNeverStarted-1 {
		t.Fatalf("retried = %v; want %d", got, maxNeverStarted-1)
	}
	if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "502"}); got != 1 {
		t.Fatalf("requests{502} = %v; want 1", got)
	}
}

// TestGatewayRefusedTwiceStillServed: when workers go away together
// (recycling, a rolling restart), a request refused by one and then by the
// next still runs: refused streams never started, so a third attempt is
// safe.
func TestGatewayRefusedTwiceStillServed(t *testing.T) {
	e := gwStart(t, Config{Workers: 2})
	first, second := e.addRawWorker(0), e.addRawWorker(1)
	go func() {
		st := first.accept(t)
		st.Reset(ipc.CodeRefused)
		st = first.accept(t)
		st.WriteHead(ipc.Fields{{Name: ":status", Value: "204"}}, true)
	}()
	go func() {
		st := second.accept(t)
		st.Reset(ipc.CodeRefused)
	}()
	resp, _, err := e.get("/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 204 {
		t.Fatalf("status %d after two refusals; want the third attempt's 204", resp.StatusCode)
	}
	if got := gwMetric(t, e.g, "sluice_http_retried_total", nil); got != 2 {
		t.Fatalf("retried = %v; want 2", got)
	}
}

// TestGatewayRetryAfterWorkerLoss: a worker lost before answering costs an
// idempotent request nothing (it runs elsewhere); a POST is not retried (it
// may have run) and gets 502.
func TestGatewayRetryAfterWorkerLoss(t *testing.T) {
	for _, tc := range []struct {
		method  string
		body    string
		retried bool
	}{
		{"GET", "", true},
		{"PUT", "idempotent body", true},
		{"DELETE", "", true},
		{"POST", "small body", false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			e := gwStart(t, Config{Workers: 2, MaxInFlight: 2}) // worker 0 first, as above
			raw := e.addRawWorker(0)
			var calls atomic.Int32
			e.addWorker(1, gwEcho(1, &calls), nil)
			go func() {
				raw.accept(t)
				raw.peer.Close() // the worker dies with the stream open
			}()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			resp, got, err := e.do(gwRequest(t, tc.method, e.url("/echo"), body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.retried {
				want := fmt.Sprintf("%s %d:%s", tc.method, len(tc.body), tc.body)
				if resp.StatusCode != 200 || resp.Header.Get("X-Worker") != "1" || string(got) != want {
					t.Fatalf("got %d %q; want 200 from worker 1: %q", resp.StatusCode, got, want)
				}
			} else {
				if resp.StatusCode != 502 || !strings.HasPrefix(string(got), "sluice: the worker failed before responding: ") || calls.Load() != 0 {
					t.Fatalf("got %d %q, %d runs elsewhere; want 502 and no retry", resp.StatusCode, got, calls.Load())
				}
				if recs := e.logs.records("request failed before a response"); len(recs) != 1 || recs[0]["method"] != "POST" || recs[0]["worker"] != 0.0 {
					t.Fatalf("log: %v", recs)
				}
			}
			want := 0.0
			if tc.retried {
				want = 1
			}
			if got := gwMetric(t, e.g, "sluice_http_retried_total", nil); got != want {
				t.Fatalf("retried = %v; want %v", got, want)
			}
		})
	}
}

// TestGatewayStreamedBodyIsNotRetried: a body too large to hold streams to
// the worker and is gone once sent: a refusal is final (502).
func TestGatewayStreamedBodyIsNotRetried(t *testing.T) {
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 2}) // worker 0 first, as above
	raw := e.addRawWorker(0)
	var calls atomic.Int32
	e.addWorker(1, gwEcho(1, &calls), nil)
	go func() {
		st := raw.accept(t)
		// Take some of the body first: it was on its way.
		io.ReadFull(st, make([]byte, 1000))
		st.Reset(ipc.CodeRefused)
	}()
	req := gwRequest(t, "POST", e.url("/echo"), bytes.NewReader(make([]byte, maxRetryBody+1)))
	resp, got, err := e.do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 502 || !strings.Contains(string(got), "REFUSED") || calls.Load() != 0 {
		t.Fatalf("got %d %q, %d runs elsewhere; want 502 and no retry", resp.StatusCode, got, calls.Load())
	}
}

// gwCounting counts the bytes read from r.
type gwCounting struct {
	r io.Reader
	n atomic.Int64
}

func (c *gwCounting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestGatewayLargeUploadWithBackpressure: a large upload streams through to
// the worker; while the handler reads nothing the client is held back (the
// gateway buffers a bounded amount, not the body), and once it reads, every
// byte arrives in order.
func TestGatewayLargeUploadWithBackpressure(t *testing.T) {
	e := gwStart(t, Config{})
	const size = 64 << 20
	started, read := make(chan struct{}), make(chan struct{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-read:
		case <-r.Context().Done():
			return
		}
		sum := sha256.New()
		n, err := io.Copy(sum, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x", n, sum.Sum(nil))
	}), nil)
	src := &gwCounting{r: gwNewPattern(size)}
	req := gwRequest(t, "POST", e.url("/upload"), src)
	req.ContentLength = size
	res := make(chan gwResult, 1)
	go func() {
		resp, body, err := e.do(req)
		res <- gwResult{resp, body, err}
	}()
	gwRecv(t, started, "the handler")
	// Nothing signals that the pipeline is full: wait until the upload
	// has stopped moving (bounded), then check it stopped short.
	last, still := int64(-1), 0
	gwUntil(t, "the upload stalls", func() bool {
		time.Sleep(10 * time.Millisecond)
		n := src.n.Load()
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
		return still >= 20
	})
	t.Logf("with the handler not reading, the client sent %d of %d bytes", last, size)
	if last >= size/2 {
		t.Fatalf("the client sent %d of %d bytes that nobody read: the gateway does not hold uploads back", last, size)
	}
	close(read)
	r := gwRecv(t, res, "the response")
	if r.err != nil || r.resp.StatusCode != 200 || string(r.body) != fmt.Sprintf("%d %x", size, gwDigest(gwNewPattern(size))) {
		t.Fatalf("got %v %v %q", r.err, r.resp, r.body)
	}
}

// TestGatewayEarlyAnswerToAnUpload mirrors TestEarlyAnswerToAnUploadCompletes:
// a worker that answers without reading the body (405 to a POST) completes
// the response while the client's upload stays open, and frees the slot.
func TestGatewayEarlyAnswerToAnUpload(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, gwDemo(), nil)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, 64<<10)) // some body, then the upload stalls
	req := gwRequest(t, "POST", e.url("/payload?size=1KiB"), pr)
	res := make(chan gwResult, 1)
	go func() {
		resp, body, err := e.do(req)
		res <- gwResult{resp, body, err}
	}()
	var r gwResult
	select {
	case r = <-res:
	case <-time.After(gwWait):
		// Closing the upload (deferred) lets the client give up.
		t.Fatal("the early answer never completed while the upload stayed open")
	}
	resp, body, err := r.resp, r.body, r.err
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("got %d %q %v; want a complete 405", resp.StatusCode, body, err)
	}
	gwUntil(t, "the slot is released", func() bool { return e.gwOpen() == 0 })
}

// gwShortBody is a request body that ends early with err.
type gwShortBody struct {
	r   io.Reader
	err error
}

func (b *gwShortBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = b.err
	}
	return n, err
}

func (b *gwShortBody) Close() error { return nil }

// TestGatewayTruncatedHeldBodyIs400: a small body that fails to arrive in
// full while its client is still there is answered 400 saying how much came,
// and no worker is bothered.
func TestGatewayTruncatedHeldBodyIs400(t *testing.T) {
	e := gwStart(t, Config{})
	var calls atomic.Int32
	e.addWorker(0, gwEcho(0, &calls), nil)
	req := httptest.NewRequest("POST", "/echo", &gwShortBody{strings.NewReader("0123456789"), io.ErrUnexpectedEOF})
	req.ContentLength = 100
	rec := httptest.NewRecorder()
	e.g.ServeHTTP(rec, req)
	want := "sluice: reading the request body: got 10 of its 100 bytes: unexpected EOF\n"
	if rec.Code != 400 || rec.Body.String() != want {
		t.Fatalf("got %d %q; want 400 %q", rec.Code, rec.Body.String(), want)
	}
	if calls.Load() != 0 || e.g.pool.served(e.g.pool.backends[0]) != 0 {
		t.Fatal("a worker was given the truncated request")
	}
	if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "400"}); got != 1 {
		t.Fatalf("requests{400} = %v; want 1", got)
	}
}

// TestGatewayTruncatedBodyFromAClientThatLeft: over the wire, a client whose
// body stops short because it closed its side has gone: net/http ends the
// request's context, and the gateway drops the connection rather than
// answer (nobody would read a 400), with no worker involved.
func TestGatewayTruncatedBodyFromAClientThatLeft(t *testing.T) {
	e := gwStart(t, Config{})
	var calls atomic.Int32
	e.addWorker(0, gwEcho(0, &calls), nil)
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(gwWait))
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil || len(out) != 0 {
		t.Fatalf("got %q, %v; want the connection closed without a response", out, err)
	}
	if calls.Load() != 0 || e.g.pool.served(e.g.pool.backends[0]) != 0 {
		t.Fatal("a worker was given the truncated request")
	}
}

// TestGatewayRetriesStreamRefusedAtTheGate: a worker that stops (as in a
// rolling restart) refuses the streams still waiting at its admission gate;
// the gateway runs them on another worker, held body included, while the
// handler already running on the stopping worker finishes.
func TestGatewayRetriesStreamRefusedAtTheGate(t *testing.T) {
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 2, QueueTimeout: gwWait})
	h := gwNewHold()
	a := e.addWorker(0, gwTagged(0, h), &child.Config{MaxInFlight: 1})
	running := e.getAsync("/running")
	gwRecv(t, h.started, "the running request")

	body := strings.Repeat("p", 5000)
	post := make(chan gwResult, 1)
	req := gwRequest(t, "POST", e.url("/echo"), strings.NewReader(body))
	go func() {
		resp, b, err := e.do(req)
		post <- gwResult{resp, b, err}
	}()
	gwUntil(t, "the POST waits at worker 0's gate", func() bool { l, _ := a.conn.PeerLoad(); return l.Waiting == 1 })
	var calls atomic.Int32
	e.addWorker(1, gwEcho(1, &calls), nil)
	a.cancel() // worker 0 stops

	r := gwRecv(t, post, "the POST")
	if r.err != nil || r.resp.StatusCode != 200 || r.resp.Header.Get("X-Worker") != "1" || string(r.body) != "POST 5000:"+body {
		t.Fatalf("POST: %v %v %.40q", r.err, r.resp, r.body)
	}
	if got := gwMetric(t, e.g, "sluice_http_retried_total", nil); got != 1 {
		t.Fatalf("retried = %v; want 1", got)
	}
	h.let(t)
	if r := gwRecv(t, running, "the running request"); r.err != nil || r.resp.StatusCode != 200 || string(r.body) != "released\n" {
		t.Fatalf("the request running on the stopping worker: %v %v %q", r.err, r.resp, r.body)
	}
	gwRecv(t, a.done, "worker 0 to stop")
	if a.err != nil {
		t.Fatalf("worker 0 stopped with %v; want an orderly stop", a.err)
	}
}

// TestGatewayStreamedBodyRetriedIfNeverSent: a large body is not held, so
// once it went out it cannot be sent again; but a stream that failed to
// open sent nothing, and the request runs on another worker. (Here the
// worker's stream limit is taken by admin streams; in production the worker
// can also start going away, or die, between the pick and the open.)
func TestGatewayStreamedBodyRetriedIfNeverSent(t *testing.T) {
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 1, QueueTimeout: gwWait})
	raw := e.addRawWorkerWith(0, ipc.Config{MaxStreams: 2}) // one request slot, one for admin
	var calls atomic.Int32
	e.addWorker(1, gwEcho(1, &calls), nil)
	// Two admin streams (say a profile and a scrape) fill worker 0's limit.
	admin := make(chan gwResult, 2)
	for i := 0; i < 2; i++ {
		req := gwRequest(t, "GET", e.admin.URL+"/debug/workers/0/pprof/profile", nil)
		go func() {
			resp, body, err := e.do(req)
			admin <- gwResult{resp, body, err}
		}()
	}
	held := []*ipc.Stream{raw.accept(t), raw.accept(t)}

	body := bytes.Repeat([]byte("u"), maxRetryBody+1)
	resp, got, err := e.do(gwRequest(t, "POST", e.url("/echo"), bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("POST %d:%s", len(body), body); resp.StatusCode != 200 || resp.Header.Get("X-Worker") != "1" || string(got) != want {
		t.Fatalf("got %d from worker %q: %.80q; want 200 from worker 1 with the body", resp.StatusCode, resp.Header.Get("X-Worker"), got)
	}
	if got := gwMetric(t, e.g, "sluice_http_retried_total", nil); got != 1 {
		t.Fatalf("retried = %v; want 1", got)
	}
	for _, st := range held {
		st.WriteHead(ipc.Fields{{Name: ":status", Value: "200"}}, true)
	}
	for i := 0; i < 2; i++ {
		if r := gwRecv(t, admin, "an admin answer"); r.err != nil || r.resp.StatusCode != 200 {
			t.Fatalf("admin stream: %v %v", r.err, r.resp)
		}
	}
}

// TestGatewayRefusedUploadStillGets502: a streamed upload that its worker
// refuses after taking part of the body, while the client is slow to send
// the rest, is answered 502, logged and counted: the gateway interrupting
// its own read of the body (which makes net/http end the request's
// context) is not the client going away.
func TestGatewayRefusedUploadStillGets502(t *testing.T) {
	e := gwStart(t, Config{Workers: 1})
	raw := e.addRawWorker(0)
	go func() {
		st := raw.accept(t)
		io.ReadFull(st, make([]byte, 1000))
		st.Reset(ipc.CodeRefused)
	}()
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, 4000)) // then the upload stalls
	req := gwRequest(t, "POST", e.url("/upload"), pr)
	req.ContentLength = maxRetryBody + 1
	res := make(chan gwResult, 1)
	go func() {
		resp, body, err := e.do(req)
		res <- gwResult{resp, body, err}
	}()
	var r gwResult
	select {
	case r = <-res:
	case <-time.After(gwWait):
		// Closing the upload (deferred) lets the client give up.
		t.Fatal("no answer to the refused upload")
	}
	resp, body, err := r.resp, r.body, r.err
	if err != nil {
		t.Fatalf("the client got no answer: %v", err)
	}
	if resp.StatusCode != 502 || !strings.HasPrefix(string(body), "sluice: the worker failed before responding: ") || !strings.Contains(string(body), "REFUSED") {
		t.Fatalf("got %d %q; want 502 naming the refusal", resp.StatusCode, body)
	}
	// The rest of the upload is still on the connection: it cannot carry
	// another request.
	if !resp.Close {
		t.Error("the 502 keeps the connection open behind an upload read halfway")
	}
	if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "502"}); got != 1 {
		t.Fatalf("requests{502} = %v; want 1", got)
	}
	if recs := e.logs.records("request failed before a response"); len(recs) != 1 {
		t.Fatalf("log: %v", recs)
	}
}
