package child

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/stream"
)

// blocking is a handler that counts how many run at once and blocks until
// release is closed.
type blocking struct {
	running, peak atomic.Int32
	started       chan string // the path of each handler that starts
	release       chan struct{}
}

func newBlocking(t *testing.T) *blocking {
	b := &blocking{started: make(chan string, 100), release: make(chan struct{})}
	t.Cleanup(b.free)
	return b
}

func (b *blocking) free() {
	select {
	case <-b.release:
	default:
		close(b.release)
	}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	b.started <- r.URL.Path
	<-b.release
	io.WriteString(w, "done "+r.URL.Path)
}

// noneStarted fails the test if a handler started that should not have.
func (b *blocking) noneStarted(t *testing.T) {
	t.Helper()
	select {
	case p := <-b.started:
		t.Fatalf("the handler for %s started past the gate", p)
	default:
	}
}

func TestGateLimitsInFlight(t *testing.T) {
	b := newBlocking(t)
	wk := startWorker(t, context.Background(), b, &Config{MaxInFlight: 2}, nil)
	var streams []*ipc.Stream
	for i := range 5 {
		streams = append(streams, wk.get(t, "/"+string(rune('a'+i))))
	}
	wk.loads.waitFor(t, "2 in flight and 3 waiting", func(l ipc.Load) bool {
		return l.InFlight == 2 && l.Waiting == 3 && l.Limit == 2
	})
	// Arrival order: the first two opened are the ones running.
	first := []string{within(t, b.started, "a handler"), within(t, b.started, "a handler")}
	if !(first[0] == "/a" && first[1] == "/b" || first[0] == "/b" && first[1] == "/a") {
		t.Errorf("started %v, want /a and /b", first)
	}
	b.noneStarted(t)
	b.free()
	for _, st := range streams {
		if body := mustBody(t, st); !strings.HasPrefix(body, "done") {
			t.Errorf("body %q", body)
		}
	}
	if p := b.peak.Load(); p != 2 {
		t.Errorf("%d handlers ran at once, want at most (and here exactly) 2", p)
	}
	wk.loads.waitFor(t, "nothing in flight or waiting", func(l ipc.Load) bool {
		return l.InFlight == 0 && l.Waiting == 0
	})
}

// Bytes queued for a client that grants no credit are the client's delay,
// not the writer's: they do not hold the gate shut, however many there are
// (the writer-behind case, bytes the writer could send, is the send
// budget's: stream and ipc test it).
func TestGateIgnoresBytesWaitingForCredit(t *testing.T) {
	const (
		high = 128 << 10
		size = 384 << 10
	)
	bigDone := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			defer close(bigDone)
			chunk := make([]byte, 16<<10)
			for range size / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					t.Errorf("writing /big: %v", err)
					return
				}
			}
			return
		}
		io.WriteString(w, "small")
	})
	// The parent grants 64 KiB per stream and does not read /big at first,
	// so most of /big stays queued in the worker, above the watermark.
	wk := startWorker(t, context.Background(), h, &Config{HighWatermark: high, QueueLimit: 4 * high}, &ipc.Config{StreamWindow: 64 << 10})
	big := wk.get(t, "/big")
	within(t, bigDone, "the /big handler to queue its response")
	wk.loads.waitFor(t, "queued bytes above the high watermark", func(l ipc.Load) bool {
		return l.QueuedBytes >= high && l.InFlight == 0
	})
	small := wk.get(t, "/small")
	if body := mustBody(t, small); body != "small" {
		t.Errorf("body %q", body)
	}
	if b, err := readBody(t, big); err != nil || len(b) != size {
		t.Fatalf("/big: %d bytes, %v; want %d", len(b), err, size)
	}
}

func TestGateDropsWaitingStreamOnReset(t *testing.T) {
	b := newBlocking(t)
	wk := startWorker(t, context.Background(), b, &Config{MaxInFlight: 1}, nil)
	first := wk.get(t, "/first")
	within(t, b.started, "the first handler")
	second := wk.get(t, "/second")
	wk.loads.waitFor(t, "one waiting", func(l ipc.Load) bool { return l.InFlight == 1 && l.Waiting == 1 })
	second.Reset(ipc.CodeCancel)
	wk.loads.waitFor(t, "the reset stream dropped", func(l ipc.Load) bool { return l.InFlight == 1 && l.Waiting == 0 })
	b.free()
	mustBody(t, first)
	wk.loads.waitFor(t, "idle", func(l ipc.Load) bool { return l.InFlight == 0 && l.Waiting == 0 })
	b.noneStarted(t)
}

func TestGoAwayRefusesWaitingStreams(t *testing.T) {
	b := newBlocking(t)
	wk := startWorker(t, context.Background(), b, &Config{MaxInFlight: 1}, nil)
	running := wk.get(t, "/running")
	within(t, b.started, "the first handler")
	waiting := []*ipc.Stream{wk.get(t, "/w1"), wk.get(t, "/w2")}
	wk.loads.waitFor(t, "two waiting", func(l ipc.Load) bool { return l.Waiting == 2 })

	wk.parent.GoAway(ipc.CodeOK, "draining")
	for _, st := range waiting {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, err := st.ReadHead(ctx)
		cancel()
		if code := streamCode(t, err); code != ipc.CodeRefused {
			t.Errorf("stream %d waiting at go-away: %v, want REFUSED", st.ID(), err)
		}
	}
	select {
	case err := <-wk.served:
		t.Fatalf("Serve returned (%v) while a handler was running", err)
	default:
	}
	b.free()
	if body := mustBody(t, running); body != "done /running" {
		t.Errorf("body %q", body)
	}
	if err := within(t, wk.served, "Serve to return after go-away"); err != nil {
		t.Errorf("Serve after go-away: %v, want nil", err)
	}
	wk.served <- nil // for the cleanup
	b.noneStarted(t)
}

func TestServeStopsWhenContextEnds(t *testing.T) {
	b := newBlocking(t)
	ctxErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.ServeHTTP(w, r)
		ctxErr <- r.Context().Err()
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/running")
	within(t, b.started, "the handler")
	wk.cancel()
	wk.plog.waitFor(t, "peer is going away")
	if _, err := wk.parent.OpenStream(context.Background(), reqHead("GET", "/late"), true); err == nil {
		t.Errorf("a stream opened after the worker's go-away")
	}
	b.free()
	if body := mustBody(t, st); body != "done /running" {
		t.Errorf("body %q", body)
	}
	if err := within(t, ctxErr, "the handler"); err != nil {
		t.Errorf("the running handler's context ended (%v) when Serve's did", err)
	}
	if err := within(t, wk.served, "Serve to return"); err != nil {
		t.Errorf("Serve after its context ended: %v, want nil", err)
	}
	wk.served <- nil
}

func TestDisableAdmission(t *testing.T) {
	b := newBlocking(t)
	wk := startWorker(t, context.Background(), b, &Config{MaxInFlight: 2, DisableAdmission: true}, nil)
	var streams []*ipc.Stream
	for range 5 {
		streams = append(streams, wk.get(t, "/x"))
	}
	for range 5 {
		within(t, b.started, "every handler to start at once")
	}
	wk.loads.waitFor(t, "5 in flight, none waiting", func(l ipc.Load) bool {
		return l.InFlight == 5 && l.Waiting == 0 && l.Limit == DefaultMaxStreams
	})
	b.free()
	for _, st := range streams {
		mustBody(t, st)
	}
}

// TestGateTicketReleasedClean: a pooled ticket goes back with no token left
// in its channel, so that the stream that gets it next does not take a stale
// signal for its turn.
func TestGateTicketReleasedClean(t *testing.T) {
	g := newGate(2, true, stream.NewBudget(1<<22, 1<<20, 1<<10), nil, nil)
	tk := g.join(false) // at the head: signalled
	if len(tk.turn) != 1 {
		t.Fatalf("head ticket has %d tokens, want 1", len(tk.turn))
	}
	if err := g.wait(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	g.leave(tk, false)
	g.release(tk)
	if len(tk.turn) != 0 {
		t.Fatalf("released ticket keeps %d tokens", len(tk.turn))
	}

	// Withdrawn after a signal, too.
	tk = g.join(false)
	g.withdraw(tk)
	g.release(tk)
	if len(tk.turn) != 0 {
		t.Fatalf("released withdrawn ticket keeps %d tokens", len(tk.turn))
	}
	if c := g.counts(); c.inFlight != 0 || c.waiting != 0 || c.draining != 1 {
		t.Fatalf("counts %+v; want none in flight or waiting, and the first stream draining", c)
	}
}
