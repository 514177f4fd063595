package ipc

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/stream"
)

// serveSizes accepts streams on ac until it fails and answers each with
// the number of bytes its head's "size" field asks for. At the test's end
// it closes ac and waits for its handlers.
func serveSizes(t *testing.T, ctx context.Context, ac *Conn) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ac.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			st, err := ac.AcceptStream(ctx)
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				size, _ := strconv.Atoi(st.Head().Get("size"))
				st.WriteHead(Fields{{":status", "200"}}, false)
				chunk := bytes.Repeat([]byte{'x'}, 32<<10)
				for left := size; left > 0; {
					n, err := st.Write(chunk[:min(left, len(chunk))])
					if err != nil {
						return
					}
					left -= n
				}
				st.CloseWrite()
			}()
		}
	}()
}

// TestRecvBudgetBoundsStreams opens streams on two connections that share
// one receive budget and reads them in turns, a little at a time: the
// credit granted across them, and so the bytes they buffer, never passes
// the budget plus every stream's initial window, no window grows past its
// share of the budget, and the last stream left grows to the full
// window once the others have ended.
func TestRecvBudgetBoundsStreams(t *testing.T) {
	const (
		perConn = 4
		n       = 2 * perConn
		initial = 64 << 10
		window  = 1 << 20
		limit   = 1 << 20
	)
	budget := stream.NewRecvBudget(limit)
	ocfg := &Config{StreamWindow: window, InitialWindow: initial, RecvBudget: budget}
	ctx := ctxTimeout(t, 60*time.Second)
	var streams []*Stream
	var sizes []int
	for c := range 2 {
		oc, ac := pair(t, ocfg, nil)
		if got := oc.PeerHello().StreamWindow; got != DefaultStreamWindow {
			t.Fatalf("the acceptor announced %d", got)
		}
		serveSizes(t, ctx, ac)
		for i := range perConn {
			size := (c*perConn + i + 1) * 512 << 10
			if c*perConn+i == n-1 {
				// Long enough to outlive the others by several grants
				// of the full window.
				size = 8 << 20
			}
			st, err := oc.OpenStream(ctx, Fields{{"size", strconv.Itoa(size)}}, true)
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, st)
			sizes = append(sizes, size)
		}
	}
	if got := budget.Windows(); got != n {
		t.Fatalf("budget counts %d windows with %d streams open", got, n)
	}
	check := func(when string) {
		t.Helper()
		held := 0
		for _, st := range streams {
			held += st.recvq.Len()
		}
		granted := budget.Granted()
		if int64(held) > granted || granted > limit+n*initial {
			t.Fatalf("%s: streams hold %d bytes, budget granted %d; want held ≤ granted ≤ %d", when, held, granted, limit+n*initial)
		}
	}
	for _, st := range streams {
		if _, err := st.ReadHead(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check("before any read")

	read := make([]int, n)
	left := n
	last := streams[n-1]
	lastMax := 0
	buf := make([]byte, 16<<10)
	for left > 0 {
		for i, st := range streams {
			if read[i] == sizes[i] {
				continue
			}
			k, err := st.Read(buf)
			read[i] += k
			if err == io.EOF || read[i] == sizes[i] {
				if _, err := st.Read(buf); err != io.EOF || read[i] != sizes[i] {
					t.Fatalf("stream %d: read %d of %d bytes, then %v", st.ID(), read[i], sizes[i], err)
				}
				read[i] = sizes[i]
				left--
			} else if err != nil {
				t.Fatalf("stream %d: %v after %d bytes", st.ID(), err, read[i])
			}
			check("while reading")
			// Streams only end, so shares only grow: the share now bounds
			// the one the window grew to.
			size := st.recvWin.Size()
			if open := budget.Windows(); size > max(limit/max(open, 1), initial) {
				t.Fatalf("stream %d: window of %d with %d streams open; their share is %d", st.ID(), size, open, limit/max(open, 1))
			}
			if st == last {
				lastMax = max(lastMax, st.recvWin.Size())
			}
		}
	}
	if lastMax != window {
		t.Fatalf("the last stream's window reached %d alone; want the full %d", lastMax, window)
	}
	for _, st := range streams {
		<-st.Context().Done() // forgotten: both directions ended
	}
	if budget.Windows() != 0 || budget.Granted() != 0 || budget.Buffered() != 0 {
		t.Fatalf("after every stream ended: budget windows %d, granted %d, buffered %d; want 0", budget.Windows(), budget.Granted(), budget.Buffered())
	}
}

// TestRecvBudgetLoneStreamGrows reads a lone stream: its window grows, by
// at most twice what was read, to the full StreamWindow long
// before the response ends, and the budget holds nothing once it is read.
func TestRecvBudgetLoneStreamGrows(t *testing.T) {
	const initial, window, size = DefaultInitialWindow, 4 << 20, 16 << 20
	budget := stream.NewRecvBudget(64 << 20)
	oc, ac := pair(t, &Config{RecvBudget: budget}, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	serveSizes(t, ctx, ac)
	if got := ac.PeerHello().StreamWindow; got != initial {
		t.Fatalf("the opener announced an initial window of %d; want %d", got, initial)
	}
	st, err := oc.OpenStream(ctx, Fields{{"size", strconv.Itoa(size)}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadHead(ctx); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	read := 0
	for st.recvWin.Size() < window {
		if read >= size/2 {
			t.Fatalf("the window is %d after %d bytes read; want %d by then", st.recvWin.Size(), read, window)
		}
		n, err := io.ReadFull(st, buf)
		if err != nil {
			t.Fatal(err)
		}
		read += n
		// Each grant grows the window by at most twice what it grants back,
		// so all growth is at most twice all that was read.
		if now := st.recvWin.Size(); now > initial+2*read {
			t.Fatalf("the window is %d after %d bytes read; want at most %d", now, read, initial+2*read)
		}
	}
	n, err := io.Copy(io.Discard, st)
	if err != nil || read+int(n) != size {
		t.Fatalf("read the rest: %d bytes after %d, %v; want %d in all", n, read, err, size)
	}
	<-st.Context().Done()
	if budget.Windows() != 0 || budget.Granted() != 0 || budget.Buffered() != 0 {
		t.Fatalf("after the stream was read: budget windows %d, granted %d, buffered %d; want 0", budget.Windows(), budget.Granted(), budget.Buffered())
	}
}

// TestRecvBudgetResetGivesBack checks that a stream reset with data unread,
// before or after the peer's END, leaves nothing charged to the budget.
func TestRecvBudgetResetGivesBack(t *testing.T) {
	budget := stream.NewRecvBudget(1 << 20)
	oc, ac := pair(t, &Config{RecvBudget: budget, InitialWindow: 64 << 10, StreamWindow: 256 << 10}, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	serveSizes(t, ctx, ac)
	for _, size := range []int{1 << 20, 32 << 10} {
		st, err := oc.OpenStream(ctx, Fields{{"size", strconv.Itoa(size)}}, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.ReadHead(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(st, make([]byte, 16<<10)); err != nil {
			t.Fatal(err)
		}
		if size < 64<<10 {
			<-st.Context().Done() // the END is in: the rest stays readable
		}
		st.Reset(CodeCancel)
		if budget.Windows() != 0 || budget.Granted() != 0 || budget.Buffered() != 0 {
			t.Fatalf("%d-byte stream reset: budget windows %d, granted %d, buffered %d; want 0", size, budget.Windows(), budget.Granted(), budget.Buffered())
		}
	}
}

// TestRecvBudgetSmallResponsesNeedNoWindow: responses smaller than a
// quarter of the initial window are read whole without a WINDOW frame,
// whenever their END arrives: the acceptor's credit is the initial window
// less what it sent once a ping has made the round trip behind anything
// the opener queued.
func TestRecvBudgetSmallResponsesNeedNoWindow(t *testing.T) {
	const initial = DefaultInitialWindow
	oc, ac := pair(t, &Config{RecvBudget: stream.NewRecvBudget(64 << 20)}, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	for _, size := range []int{4 << 10, initial/4 - 1} {
		accepted := make(chan *Stream, 1)
		go func() {
			st, err := ac.AcceptStream(ctx)
			if err != nil {
				close(accepted)
				return
			}
			st.WriteHead(Fields{{":status", "200"}}, false)
			st.Write(bytes.Repeat([]byte{'s'}, size))
			st.CloseWrite()
			accepted <- st
		}()
		st, err := oc.OpenStream(ctx, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.ReadHead(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, st); err != nil || n != int64(size) {
			t.Fatalf("%d-byte response: read %d, %v", size, n, err)
		}
		if _, err := oc.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		sent := within(t, 10*time.Second, accepted, "the handler")
		if got := sent.sendWin.Available(); got != initial-size {
			t.Fatalf("%d-byte response: the acceptor holds %d bytes of credit; want %d, the initial window less the response: no WINDOW", size, got, initial-size)
		}
	}
}
