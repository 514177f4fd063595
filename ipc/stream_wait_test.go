package ipc

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
)

// hookCalls records a stream's wait-hook calls in order.
type hookCalls struct {
	mu    sync.Mutex
	calls []bool
}

func recordWaits(st *Stream) *hookCalls {
	h := new(hookCalls)
	st.SetWaitHook(func(waiting bool) {
		h.mu.Lock()
		h.calls = append(h.calls, waiting)
		h.mu.Unlock()
	})
	return h
}

// expect fails the test unless the calls so far are exactly want.
func (h *hookCalls) expect(t *testing.T, when string, want ...bool) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Equal(h.calls, want) {
		t.Fatalf("%s: wait-hook calls %v; want %v", when, h.calls, want)
	}
}

// goWriteStream runs st.Write(p) in a goroutine and returns its error.
func goWriteStream(st *Stream, p []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := st.Write(p)
		done <- err
	}()
	return done
}

// TestWaitHookCreditBlockedWrite: a Write that waits because the peer has
// granted no credit is reported, once, and its end once credit comes.
func TestWaitHookCreditBlockedWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window, queue, tail = 64 << 10, 64 << 10, 16 << 10
		oc, ac, _ := bubblePair(t, &Config{StreamWindow: window}, &Config{SendQueue: queue})
		opened, accepted := openOne(t, oc, ac)
		calls := recordWaits(accepted)
		body := bytes.Repeat([]byte("z"), window+queue+tail)

		// The first window's worth leaves at once and spends the credit.
		if _, err := accepted.Write(body[:window]); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		calls.expect(t, "a Write within the credit")

		// The next fills the queue, which cannot drain: no credit.
		done := goWriteStream(accepted, body[window:])
		synctest.Wait()
		calls.expect(t, "a Write blocked for credit", true)

		// Reading a quarter of the window grants credit; the writer sends
		// from the queue, and the Write's last bytes fit.
		first := make([]byte, window)
		if _, err := io.ReadFull(opened, first); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		calls.expect(t, "the Write after credit came", true, false)
		if err := accepted.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		readAll(t, opened, body[window:])
		calls.expect(t, "the end", true, false)
	})
}

// TestWaitHookQueueFullWithCredit: a Write that waits for the writer, with
// credit to spare, is not waiting on the peer and calls nothing.
func TestWaitHookQueueFullWithCredit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const queue = 64 << 10
		oc, ac, toOpener := bubblePair(t, nil, &Config{SendQueue: queue})
		opened, accepted := openOne(t, oc, ac)
		calls := recordWaits(accepted)
		body := bytes.Repeat([]byte("w"), 4*queue)

		toOpener.let(0) // the writer blocks in its first write of data
		done := goWriteStream(accepted, body)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Write returned (%v) with the queue full and the writer held up", err)
		default:
		}
		calls.expect(t, "a Write blocked behind the writer")

		toOpener.let(-1)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := accepted.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		readAll(t, opened, body)
		calls.expect(t, "the end")
	})
}

// TestWaitHookBlockedRead: a Read that waits for the peer's data is
// reported around the wait; one that finds data in hand calls nothing.
func TestWaitHookBlockedRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oc, ac, _ := bubblePair(t, nil, nil)
		opened, accepted := openAccepted(t, context.Background(), oc, ac, false)
		calls := recordWaits(accepted)
		type result struct {
			p   string
			err error
		}
		read := func() <-chan result {
			ch := make(chan result, 1)
			go func() {
				buf := make([]byte, 64)
				n, err := accepted.Read(buf)
				ch <- result{string(buf[:n]), err}
			}()
			return ch
		}

		got := read()
		synctest.Wait()
		calls.expect(t, "a Read waiting for the body", true)
		if _, err := opened.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if r := <-got; r.p != "hello" || r.err != nil {
			t.Fatalf("Read = %q, %v; want hello", r.p, r.err)
		}
		calls.expect(t, "the Read once data came", true, false)

		if _, err := opened.Write([]byte("again")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the data is in before the Read
		if r := <-read(); r.p != "again" || r.err != nil {
			t.Fatalf("Read = %q, %v; want again", r.p, r.err)
		}
		calls.expect(t, "a Read with data in hand", true, false)
		if err := opened.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if r := <-read(); r.err != io.EOF {
			t.Fatalf("Read at the end = %q, %v; want io.EOF", r.p, r.err)
		}
		accepted.Close()
	})
}
