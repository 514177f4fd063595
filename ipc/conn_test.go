package ipc

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	reqBody := bytes.Repeat([]byte("request "), 100000)
	respBody := bytes.Repeat([]byte("response"), 500000)

	served := make(chan error, 1)
	go func() {
		served <- func() error {
			st, err := ac.AcceptStream(ctx)
			if err != nil {
				return err
			}
			if got := st.Head().Get(":path"); got != "/x" {
				return errors.New("wrong path " + got)
			}
			body, err := io.ReadAll(st)
			if err != nil {
				return err
			}
			if !bytes.Equal(body, reqBody) {
				return errors.New("request body differs")
			}
			if err := st.WriteHead(Fields{{":status", "200"}}, false); err != nil {
				return err
			}
			if _, err := st.Write(respBody); err != nil {
				return err
			}
			return st.End(CodeOK, Fields{{"Content-Digest", "sha-256=:x:"}})
		}()
	}()

	st, err := oc.OpenStream(ctx, Fields{{":method", "POST"}, {":path", "/x"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(reqBody); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	head, err := st.ReadHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Get(":status") != "200" {
		t.Fatalf("status %q", head.Get(":status"))
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(st); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if !bytes.Equal(got.Bytes(), respBody) {
		t.Fatalf("response differs: %d bytes, want %d", got.Len(), len(respBody))
	}
	if tr := st.Trailers().Get("content-digest"); tr != "sha-256=:x:" {
		t.Fatalf("trailer %q", tr)
	}
	if err := within(t, 5*time.Second, served, "server"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return oc.NumStreams() == 0 && ac.NumStreams() == 0 }, "both ends forget the stream")
}

// waitFor polls cond until it holds, failing after a bound.
func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHeadWithEndStreamAndEmptyResponse(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	go func() {
		st, err := ac.AcceptStream(ctx)
		if err != nil {
			return
		}
		io.Copy(io.Discard, st)
		st.WriteHead(Fields{{":status", "204"}}, true)
	}()
	st, err := oc.OpenStream(ctx, Fields{{":method", "GET"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.ReadHead(ctx)
	if err != nil || head.Get(":status") != "204" {
		t.Fatalf("head %v err %v", head, err)
	}
	n, err := io.Copy(io.Discard, st)
	if n != 0 || err != nil {
		t.Fatalf("body %d bytes, err %v; want empty and complete", n, err)
	}
	waitFor(t, func() bool { return oc.NumStreams() == 0 && ac.NumStreams() == 0 }, "both ends forget the stream")
}

func TestResetFromOpenerCancelsHandler(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	writeErr := make(chan error, 1)
	go func() {
		st, err := ac.AcceptStream(ctx)
		if err != nil {
			writeErr <- err
			return
		}
		st.WriteHead(Fields{{":status", "200"}}, false)
		buf := make([]byte, 64<<10)
		for {
			if _, err := st.Write(buf); err != nil {
				<-st.Context().Done()
				writeErr <- err
				return
			}
		}
	}()
	st, err := oc.OpenStream(ctx, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadHead(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(st, make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	st.Reset(CodeCancel)
	err = within(t, 5*time.Second, writeErr, "the handler's Write to fail")
	var se *StreamError
	if !errors.As(err, &se) || se.Code != CodeCancel || !se.Remote {
		t.Fatalf("handler Write error %v; want a remote CANCEL reset", err)
	}
	if _, err := st.Read(make([]byte, 10)); !errors.As(err, &se) {
		t.Fatalf("Read after Reset: %v; want a StreamError", err)
	}
	waitFor(t, func() bool { return oc.NumStreams() == 0 && ac.NumStreams() == 0 }, "both ends forget the reset stream")
}

func TestEndWithFailureStatusIsNotEOF(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	go func() {
		st, err := ac.AcceptStream(ctx)
		if err != nil {
			return
		}
		st.WriteHead(Fields{{":status", "200"}}, false)
		st.Write([]byte("partial"))
		st.End(CodeInternal, nil)
	}()
	st, _ := oc.OpenStream(ctx, nil, true)
	st.ReadHead(ctx)
	body, err := io.ReadAll(st)
	var se *StreamError
	if string(body) != "partial" || !errors.As(err, &se) || !se.Ended || se.Code != CodeInternal {
		t.Fatalf("got %q, %v; want the partial data then an INTERNAL end error", body, err)
	}
}

func TestConnectionLossFailsStreams(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	accepted := make(chan *Stream, 1)
	go func() {
		st, err := ac.AcceptStream(ctx)
		if err == nil {
			st.WriteHead(Fields{{":status", "200"}}, false)
			st.Write([]byte("some"))
			accepted <- st
		}
	}()
	st, _ := oc.OpenStream(ctx, nil, true)
	within(t, 5*time.Second, accepted, "accept")
	ac.Close() // the worker dies mid-response
	body, err := io.ReadAll(st)
	if err == nil {
		t.Fatalf("read %q and a clean end after the peer died; want an error", body)
	}
	if !errors.Is(err, io.EOF) && oc.Err() == nil {
		t.Fatalf("connection error not reported: %v", err)
	}
	within(t, 5*time.Second, oc.Done(), "the opener to notice")
}

func TestGoAwayStopsNewStreamsOnly(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	st, err := oc.OpenStream(ctx, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	sst, err := ac.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ac.GoAway(CodeShutdown, "draining")
	waitFor(t, oc.GoingAway, "the opener sees go-away")
	if _, err := oc.OpenStream(ctx, nil, true); !errors.Is(err, ErrGoAway) {
		t.Fatalf("OpenStream after go-away: %v", err)
	}
	sst.WriteHead(Fields{{":status", "200"}}, false)
	sst.Write([]byte("finishing"))
	sst.CloseWrite()
	st.ReadHead(ctx)
	body, err := io.ReadAll(st)
	if err != nil || string(body) != "finishing" {
		t.Fatalf("open stream after go-away: %q, %v", body, err)
	}
}

func TestStreamLimitRefusesNotFails(t *testing.T) {
	oc, ac := pair(t, nil, &Config{MaxStreams: 2})
	ctx := ctxTimeout(t, 5*time.Second)
	for i := 0; i < 2; i++ {
		if _, err := oc.OpenStream(ctx, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := oc.OpenStream(ctx, nil, true); !errors.Is(err, ErrStreamLimit) {
		t.Fatalf("third stream: %v; want ErrStreamLimit", err)
	}
	if oc.Err() != nil || ac.Err() != nil {
		t.Fatalf("connection failed: %v / %v", oc.Err(), ac.Err())
	}
}

func TestLoadReport(t *testing.T) {
	got := make(chan Load, 4)
	oc, ac := pair(t, &Config{OnLoad: func(l Load) { got <- l }}, nil)
	want := Load{InFlight: 3, Waiting: 7, Limit: 4, QueuedBytes: 5 << 30}
	ac.SendLoad(want)
	if l := within(t, 5*time.Second, got, "load report"); l != want {
		t.Fatalf("load %+v, want %+v", l, want)
	}
	if l, at := oc.PeerLoad(); l != want || at.IsZero() {
		t.Fatalf("PeerLoad %+v at %v", l, at)
	}
}

// TestQueuedLoadRidesWithTheNextFrames: QueueLoad does not wake the writer,
// and the report leaves with whatever the connection sends next.
func TestQueuedLoadRidesWithTheNextFrames(t *testing.T) {
	var o outbox
	o.init()
	o.pushLoad(Load{InFlight: 1}, false)
	if len(o.wake) != 0 {
		t.Fatal("a queued load report woke the writer")
	}
	if _, l, ok, _ := o.take(nil); !ok || l != (Load{InFlight: 1}) {
		t.Fatalf("the writer took load report %+v (pending %v), want the queued report", l, ok)
	}

	got := make(chan Load, 4)
	_, ac := pair(t, &Config{OnLoad: func(l Load) { got <- l }}, nil)
	want := Load{InFlight: 2, Limit: 4}
	ac.QueueLoad(want)
	if _, err := ac.Ping(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if l := within(t, 5*time.Second, got, "the queued load report"); l != want {
		t.Fatalf("load %+v, want %+v", l, want)
	}
}

func TestConcurrentStreamsIntegrity(t *testing.T) {
	for _, policy := range []string{"sequential", "round-robin"} {
		t.Run(policy, func(t *testing.T) {
			oc, ac := pair(t, nil, &Config{Policy: policy})
			ctx := ctxTimeout(t, 20*time.Second)
			const n, size = 20, 512 << 10
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n; i++ {
					st, err := ac.AcceptStream(ctx)
					if err != nil {
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						seed := st.Head().Get("seed")[0]
						st.WriteHead(Fields{{":status", "200"}}, false)
						st.Write(pattern(seed, size))
						st.CloseWrite()
					}()
				}
			}()
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				seed := byte('a' + i)
				st, err := oc.OpenStream(ctx, Fields{{"seed", string(seed)}}, true)
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					st.ReadHead(ctx)
					body, err := io.ReadAll(st)
					if err == nil && !bytes.Equal(body, pattern(seed, size)) {
						err = errors.New("body differs")
					}
					errs <- err
				}()
			}
			for i := 0; i < n; i++ {
				if err := within(t, 20*time.Second, errs, "stream"); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
		})
	}
}

func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// TestOnFlushedReportsLag: every byte written by a handler is reported once
// as flushed, with a lag that is not negative.
func TestOnFlushedReportsLag(t *testing.T) {
	var mu sync.Mutex
	var total int
	var negative bool
	flushed := func(lag time.Duration, n int) {
		mu.Lock()
		total += n
		negative = negative || lag < 0
		mu.Unlock()
	}
	oc, ac := pair(t, nil, &Config{OnFlushed: flushed})
	ctx := ctxTimeout(t, 5*time.Second)
	const size = 3<<20 + 17
	go func() {
		st, err := ac.AcceptStream(ctx)
		if err != nil {
			return
		}
		st.WriteHead(Fields{{":status", "200"}}, false)
		st.Write(make([]byte, size))
		st.CloseWrite()
	}()
	st, _ := oc.OpenStream(ctx, nil, true)
	st.ReadHead(ctx)
	if n, err := io.Copy(io.Discard, st); n != size || err != nil {
		t.Fatalf("%d bytes, %v", n, err)
	}
	// The writer reports a batch once writev has returned, which can be
	// after the reader already has the bytes.
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return total >= size }, "every byte reported as flushed")
	mu.Lock()
	defer mu.Unlock()
	if total != size || negative {
		t.Fatalf("OnFlushed reported %d bytes (negative lag: %v); want %d", total, negative, size)
	}
}

// TestCloseAfterEndStreamHeadSendsNothingMore: a stream opened with its
// head as the whole request, read to its end and closed, must not send a
// second END (which the peer rightly treats as a protocol error).
func TestCloseAfterEndStreamHeadSendsNothingMore(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	for i := 0; i < 3; i++ {
		go func() {
			st, err := ac.AcceptStream(ctx)
			if err != nil {
				return
			}
			st.WriteHead(Fields{{":status", "200"}}, false)
			st.Write([]byte("metrics"))
			st.CloseWrite()
		}()
		st, err := oc.OpenStream(ctx, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		st.ReadHead(ctx)
		io.ReadAll(st)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if err := st.CloseWrite(); !errors.Is(err, ErrWriteClosed) {
			t.Fatalf("CloseWrite after an END_STREAM head: %v; want ErrWriteClosed", err)
		}
	}
	if _, err := oc.Ping(ctx); err != nil {
		t.Fatalf("connection broken: %v", err)
	}
	if ac.Err() != nil || oc.Err() != nil {
		t.Fatalf("connection ended: %v / %v", ac.Err(), oc.Err())
	}
}

// TestPeerEnded: an accepted stream whose head had END_STREAM reports the
// peer ended at once; one with a body pending does not until it is read.
func TestPeerEnded(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	oc.OpenStream(ctx, Fields{{":method", "GET"}}, true)
	st, err := ac.AcceptStream(ctx)
	if err != nil || !st.PeerEnded() {
		t.Fatalf("GET without body: PeerEnded %v, err %v; want true", st.PeerEnded(), err)
	}
	post, _ := oc.OpenStream(ctx, Fields{{":method", "POST"}}, false)
	st, _ = ac.AcceptStream(ctx)
	if st.PeerEnded() {
		t.Fatal("POST with its body still to come: PeerEnded true")
	}
	post.Write([]byte("body"))
	post.CloseWrite()
	if b, err := io.ReadAll(st); string(b) != "body" || err != nil || !st.PeerEnded() {
		t.Fatalf("after reading the body: %q %v PeerEnded=%v", b, err, st.PeerEnded())
	}
}

// TestLoadFrameBufferReused: the writer reuses one LOAD frame buffer, and
// every report still arrives with its own values, never an older one after
// a newer (a report not yet sent may be superseded by the next).
func TestLoadFrameBufferReused(t *testing.T) {
	got := make(chan Load, 256)
	_, ac := pair(t, &Config{OnLoad: func(l Load) { got <- l }}, nil)
	var last Load
	for i := uint32(1); i <= 50; i++ {
		want := Load{InFlight: i, Waiting: 2 * i, Limit: 3 * i, QueuedBytes: uint64(i) << 33}
		ac.SendLoad(want)
		if i%2 == 0 {
			// Also a pass with another control frame before the next report.
			if _, err := ac.Ping(ctxTimeout(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		for last != want {
			l := within(t, 5*time.Second, got, "the load report")
			if l.InFlight <= last.InFlight || l != (Load{InFlight: l.InFlight, Waiting: 2 * l.InFlight, Limit: 3 * l.InFlight, QueuedBytes: uint64(l.InFlight) << 33}) {
				t.Fatalf("report %+v after %+v", l, last)
			}
			last = l
		}
	}
}
