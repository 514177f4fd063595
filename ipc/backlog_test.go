package ipc

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/synctest"

	"github.com/sluicegw/sluice/stream"
)

// openOne opens a stream from oc with an empty request and returns both
// ends, the acceptor's with its response head sent.
func openOne(t *testing.T, oc, ac *Conn) (opened, accepted *Stream) {
	t.Helper()
	ctx := context.Background()
	opened, accepted = openAccepted(t, ctx, oc, ac, true)
	if err := accepted.WriteHead(Fields{{":status", "200"}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := opened.ReadHead(ctx); err != nil {
		t.Fatal(err)
	}
	return opened, accepted
}

// readAll reads st to its end and checks that it carried want.
func readAll(t *testing.T, st *Stream, want []byte) {
	t.Helper()
	got, err := io.ReadAll(st)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, %v; want the %d bytes written", len(got), err, len(want))
	}
}

// TestBacklogLeavesOutBytesWithoutCredit: bytes queued beyond the peer's
// credit are held (Used) but are no backlog for the writer, so however many
// there are the budget does not turn High.
func TestBacklogLeavesOutBytesWithoutCredit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window, size = 64 << 10, 512 << 10
		budget := stream.NewBudget(0, 96<<10, 32<<10)
		oc, ac, _ := bubblePair(t, &Config{StreamWindow: window}, &Config{SendBudget: budget})
		opened, accepted := openOne(t, oc, ac)
		body := bytes.Repeat([]byte("x"), size)
		if _, err := accepted.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := accepted.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the credit is spent and the writer idle
		if used, backlog := budget.Used(), budget.Backlog(); used != size-window || backlog != 0 || budget.High() {
			t.Fatalf("Used %d, Backlog %d, High %v; want %d, 0, false", used, backlog, budget.High(), size-window)
		}
		readAll(t, opened, body)
		synctest.Wait()
		if used := budget.Used(); used != 0 {
			t.Fatalf("Used %d once the response was read; want 0", used)
		}
	})
}

// TestBacklogCountsWhatTheWriterIsSending: data covered by credit in a
// write that the socket holds up is the writer's backlog, and makes the
// budget High until it is written.
func TestBacklogCountsWhatTheWriterIsSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 512 << 10
		budget := stream.NewBudget(0, 256<<10, 64<<10)
		oc, ac, gate := bubblePair(t, nil, &Config{SendBudget: budget})
		opened, accepted := openOne(t, oc, ac)

		// Hold the writer in a write of a PING, so that the whole body is
		// queued before its next pass.
		gate.let(0)
		pinged := make(chan error, 1)
		go func() {
			_, err := ac.Ping(context.Background())
			pinged <- err
		}()
		synctest.Wait()
		body := bytes.Repeat([]byte("y"), size)
		if _, err := accepted.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := accepted.CloseWrite(); err != nil {
			t.Fatal(err)
		}

		// Let the PING through: the next pass puts the body in one batch,
		// which the socket then holds up.
		gate.let(headerSize + 8)
		synctest.Wait()
		if backlog := budget.Backlog(); backlog != size || !budget.High() {
			t.Fatalf("Backlog %d, High %v while the batch is being written; want %d, true", backlog, budget.High(), size)
		}

		gate.let(-1)
		synctest.Wait()
		if backlog, used := budget.Backlog(), budget.Used(); backlog != 0 || used != 0 || budget.High() {
			t.Fatalf("Backlog %d, Used %d, High %v once written; want 0, 0, false", backlog, used, budget.High())
		}
		if err := <-pinged; err != nil {
			t.Fatal(err)
		}
		readAll(t, opened, body)
	})
}

// TestSlowStreamsDoNotStallAFastOne: slow clients' unread bytes fill the
// shared budget, and a stream whose client reads still completes, a chunk at
// a time past the full budget, with every slow client still not reading.
func TestSlowStreamsDoNotStallAFastOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window, limit, slowSize, fastSize = 64 << 10, 256 << 10, 512 << 10, 2 << 20
		budget := stream.NewBudget(limit, 0, 0)
		oc, ac, _ := bubblePair(t, &Config{StreamWindow: window}, &Config{SendQueue: 256 << 10, SendBudget: budget})

		slowBody := bytes.Repeat([]byte("s"), slowSize)
		var slow []*Stream
		wrote := make(chan error, 3)
		for range 3 {
			opened, accepted := openOne(t, oc, ac)
			slow = append(slow, opened)
			go func() {
				_, err := accepted.Write(slowBody)
				if err == nil {
					err = accepted.CloseWrite()
				}
				wrote <- err
			}()
		}
		synctest.Wait()
		if used := budget.Used(); used < limit-stream.ChunkSize {
			t.Fatalf("Used %d with the slow streams unread; want the budget (%d) about full", used, limit)
		}

		opened, accepted := openOne(t, oc, ac)
		fastBody := bytes.Repeat([]byte("f"), fastSize)
		read := make(chan []byte, 1)
		go func() {
			got, _ := io.ReadAll(opened)
			read <- got
		}()
		if _, err := accepted.Write(fastBody); err != nil {
			t.Fatal(err)
		}
		if err := accepted.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got := <-read; !bytes.Equal(got, fastBody) {
			t.Fatalf("fast stream: read %d bytes; want the %d written", len(got), fastSize)
		}
		if used, bound := budget.Used(), int64(limit+4*stream.ChunkSize); used > bound {
			t.Fatalf("Used %d; want at most the limit and a chunk per stream, %d", used, bound)
		}

		for _, st := range slow {
			readAll(t, st, slowBody)
		}
		for range slow {
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestEndQueued: a stream's sending side needs nothing more from the peer
// once End was called and no byte waits for credit; a response beyond the
// credit is not there yet, and becomes so once the peer has read enough.
func TestEndQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window, size = 64 << 10, 256 << 10
		oc, ac, _ := bubblePair(t, &Config{StreamWindow: window}, nil)
		opened, accepted := openOne(t, oc, ac)
		if accepted.EndQueued() {
			t.Fatal("EndQueued before anything was sent")
		}
		body := bytes.Repeat([]byte("z"), size)
		if _, err := accepted.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := accepted.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if accepted.EndQueued() {
			t.Fatalf("EndQueued with %d bytes waiting for credit", accepted.QueuedBytes())
		}
		readAll(t, opened, body)
		synctest.Wait()
		if !accepted.EndQueued() {
			t.Fatal("not EndQueued once the peer read the whole response")
		}
		small, smallAccepted := openAccepted(t, context.Background(), oc, ac, true)
		if err := smallAccepted.WriteResponse(Fields{{Name: ":status", Value: "200"}}, []byte("ok"), nil); err != nil {
			t.Fatal(err)
		}
		if !smallAccepted.EndQueued() {
			t.Fatal("a whole response written in one op is not EndQueued")
		}
		small.Reset(CodeCancel)
	})
}
