package stream

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitTimeout bounds every wait in these tests: a wait that times out is a
// failure (a lost wake-up), never a way to let something happen.
const waitTimeout = 10 * time.Second

// recv waits for a value on ch, failing the test after waitTimeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type writeResult struct {
	n   int
	err error
}

// goWrite runs q.Write(ctx, p) in a goroutine and returns its result channel.
func goWrite(ctx context.Context, q *Queue, p []byte) <-chan writeResult {
	ch := make(chan writeResult, 1)
	go func() {
		n, err := q.Write(ctx, p)
		ch <- writeResult{n, err}
	}()
	return ch
}

// blockedHook makes q report on the returned channel each time a Write is
// about to block.
func blockedHook(q *Queue) <-chan struct{} {
	ch := make(chan struct{}, 16)
	q.SetWaitHook(func(waiting bool) {
		if waiting {
			ch <- struct{}{}
		}
	})
	return ch
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

func TestQueueWriteBlocksUntilPop(t *testing.T) {
	q := NewQueue(10, nil)
	blocked := blockedHook(q)
	data := pattern(25)
	done := goWrite(context.Background(), q, data)

	recv(t, blocked, "Write to block on a full queue")
	if got := q.Len(); got != 10 {
		t.Fatalf("Len() = %d while Write is blocked; want the limit, 10", got)
	}
	// Each Pop frees 4 bytes, which the Write fills at once before it
	// blocks again; until, with the last bytes, it returns.
	var got []byte
	var res *writeResult
	for res == nil {
		seg := q.Pop(4)
		got = append(got, seg.Bytes...)
		seg.Release()
		select {
		case <-blocked:
			if n := q.Len(); n != 10 {
				t.Fatalf("Len() = %d when Write blocked again; want 10", n)
			}
		case r := <-done:
			res = &r
		case <-time.After(waitTimeout):
			t.Fatal("timed out waiting for Write to block again or return")
		}
	}
	for seg := q.Pop(4); len(seg.Bytes) > 0; seg = q.Pop(4) {
		got = append(got, seg.Bytes...)
		seg.Release()
	}
	if res.n != 25 || res.err != nil {
		t.Fatalf("Write = %d, %v; want 25, nil", res.n, res.err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("popped %v; want %v", got, data)
	}
}

func TestQueueWriteContextCancel(t *testing.T) {
	q := NewQueue(10, nil)
	blocked := blockedHook(q)
	ctx, cancel := context.WithCancel(context.Background())
	done := goWrite(ctx, q, make([]byte, 25))
	recv(t, blocked, "Write to block")
	cancel()
	if r := recv(t, done, "Write to return"); r.n != 10 || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Write = %d, %v; want 10, context.Canceled", r.n, r.err)
	}
	if got := q.Len(); got != 10 {
		t.Fatalf("Len() = %d; want the 10 bytes written before the cancel", got)
	}
	// The queue is still usable.
	if seg := q.Pop(100); len(seg.Bytes) != 10 {
		t.Fatalf("Pop = %d bytes; want 10", len(seg.Bytes))
	} else {
		seg.Release()
	}
}

func TestQueueAbortWakesWrite(t *testing.T) {
	b := NewBudget(0, 0, 0)
	q := NewQueue(10, b)
	blocked := blockedHook(q)
	done := goWrite(context.Background(), q, make([]byte, 25))
	recv(t, blocked, "Write to block")

	errGone := errors.New("client went away")
	q.Abort(errGone)
	q.Abort(errors.New("second abort")) // idempotent: the first error sticks
	if r := recv(t, done, "Write to return"); r.n != 10 || r.err != errGone {
		t.Fatalf("Write = %d, %v; want 10, %v", r.n, r.err, errGone)
	}
	if n, err := q.Write(context.Background(), []byte("x")); n != 0 || err != errGone {
		t.Fatalf("Write after Abort = %d, %v; want 0, %v", n, err, errGone)
	}
	if q.Len() != 0 || b.Used() != 0 {
		t.Fatalf("after Abort: Len() = %d, budget Used() = %d; want 0, 0", q.Len(), b.Used())
	}
	if seg := q.Pop(100); len(seg.Bytes) != 0 {
		t.Fatalf("Pop after Abort = %d bytes; want 0", len(seg.Bytes))
	}
	if q.Done() {
		t.Fatal("Done() = true after Abort; an aborted queue must never look complete")
	}
	if err := q.Err(); err != errGone {
		t.Fatalf("Err() = %v; want %v", err, errGone)
	}
}

func TestQueueAbortNilError(t *testing.T) {
	q := NewQueue(10, nil)
	q.Abort(nil)
	if _, err := q.Write(context.Background(), []byte("x")); err != ErrAborted {
		t.Fatalf("Write after Abort(nil) = %v; want ErrAborted", err)
	}
}

func TestQueueAbortKeepsPoppedSegments(t *testing.T) {
	b := NewBudget(0, 0, 0)
	q := NewQueue(ChunkSize, b)
	data := pattern(1000)
	if _, err := q.Write(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	seg := q.Pop(300)
	q.Abort(nil)
	if !bytes.Equal(seg.Bytes, data[:300]) {
		t.Fatal("a segment popped before Abort changed")
	}
	if got := b.Used(); got != 300 {
		t.Fatalf("budget Used() = %d after Abort; want the 300 bytes still held by the segment", got)
	}
	seg.Release()
	if got := b.Used(); got != 0 {
		t.Fatalf("budget Used() = %d after Release; want 0", got)
	}
}

func TestQueueCloseWriteAndDone(t *testing.T) {
	ctx := context.Background()
	q := NewQueue(100, nil)
	if q.Done() {
		t.Fatal("Done() = true on a new queue")
	}
	if _, err := q.Write(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	q.CloseWrite()
	q.CloseWrite() // idempotent
	if n, err := q.Write(ctx, []byte("x")); n != 0 || err != ErrClosed {
		t.Fatalf("Write after CloseWrite = %d, %v; want 0, ErrClosed", n, err)
	}
	if q.Done() {
		t.Fatal("Done() = true with bytes still queued")
	}
	s1 := q.Pop(3)
	if q.Done() {
		t.Fatal("Done() = true with bytes still queued")
	}
	s2 := q.Pop(3)
	if got := string(s1.Bytes) + string(s2.Bytes); got != "hello" {
		t.Fatalf("popped %q; want %q", got, "hello")
	}
	if !q.Done() {
		t.Fatal("Done() = false after CloseWrite and popping everything")
	}
	if q.Err() != nil {
		t.Fatalf("Err() = %v on a cleanly closed queue", q.Err())
	}
	s1.Release()
	s2.Release()

	empty := NewQueue(100, nil)
	empty.CloseWrite()
	if !empty.Done() {
		t.Fatal("Done() = false on an empty queue after CloseWrite")
	}
}

func TestQueueWriteEmpty(t *testing.T) {
	q := NewQueue(1, nil)
	notified := 0
	q.SetNotify(func() { notified++ })
	if n, err := q.Write(context.Background(), nil); n != 0 || err != nil || notified != 0 {
		t.Fatalf("Write(nil) = %d, %v, %d notifications; want 0, nil, 0", n, err, notified)
	}
}

func TestQueuePopContiguous(t *testing.T) {
	ctx := context.Background()
	q := NewQueue(4*ChunkSize, nil)
	data := pattern(2*ChunkSize + 100)
	// Write in odd pieces so that chunk boundaries and write boundaries
	// differ.
	for p := data; len(p) > 0; {
		k := min(len(p), 40000)
		if _, err := q.Write(ctx, p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	tests := []struct{ max, want int }{
		{0, 0},
		{-5, 0},
		{1000, 1000},
		{1 << 20, ChunkSize - 1000}, // stops at the chunk's end
		{1 << 20, ChunkSize},
		{ChunkSize + 1, 100},
		{1 << 20, 0},
	}
	var got []byte
	for i, tt := range tests {
		seg := q.Pop(tt.max)
		if len(seg.Bytes) != tt.want {
			t.Fatalf("pop %d: Pop(%d) = %d bytes; want %d", i, tt.max, len(seg.Bytes), tt.want)
		}
		if cap(seg.Bytes) != len(seg.Bytes) {
			t.Fatalf("pop %d: cap %d != len %d: an append could overwrite queued bytes", i, cap(seg.Bytes), len(seg.Bytes))
		}
		got = append(got, seg.Bytes...)
		seg.Release()
	}
	if !bytes.Equal(got, data) {
		t.Fatal("popped bytes differ from the written bytes")
	}
}

func TestQueueNotify(t *testing.T) {
	ctx := context.Background()
	q := NewQueue(1000, nil)
	var notified atomic.Int32
	q.SetNotify(func() { notified.Add(1) })
	expect := func(step string, want int32) {
		t.Helper()
		if got := notified.Load(); got != want {
			t.Fatalf("%s: notified %d times; want %d", step, got, want)
		}
	}
	write := func(p string) {
		t.Helper()
		if _, err := q.Write(ctx, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	write("ab")
	expect("write to an empty queue", 1)
	write("cd")
	expect("write to a non-empty queue (the consumer knows it has work)", 1)
	seg := q.Pop(100)
	seg.Release()
	write("ef")
	expect("write after the consumer emptied the queue", 2)
	q.CloseWrite()
	expect("CloseWrite", 3)

	q2 := NewQueue(1000, nil)
	q2.SetNotify(func() { notified.Add(1) })
	q2.Abort(nil)
	expect("Abort", 4)
	q2.Abort(nil)
	expect("a second Abort", 4)
}

func TestQueueBudget(t *testing.T) {
	ctx := context.Background()
	b := NewBudget(0, 0, 0)
	q := NewQueue(4*ChunkSize, b)
	if _, err := q.Write(ctx, make([]byte, ChunkSize+10)); err != nil {
		t.Fatal(err)
	}
	if got := b.Used(); got != ChunkSize+10 {
		t.Fatalf("Used() = %d after Write; want %d", got, ChunkSize+10)
	}
	s1 := q.Pop(1 << 20)
	s2 := q.Pop(1 << 20)
	if got := b.Used(); got != ChunkSize+10 {
		t.Fatalf("Used() = %d after Pop; want %d: popped bytes are in memory until Release", got, ChunkSize+10)
	}
	s1.Release()
	if got := b.Used(); got != 10 {
		t.Fatalf("Used() = %d after releasing the first segment; want 10", got)
	}
	s2.Release()
	if got := b.Used(); got != 0 {
		t.Fatalf("Used() = %d after releasing both; want 0", got)
	}
	Segment{}.Release() // safe on a zero Segment
}

// waitCalls records a queue's wait-hook calls in order.
func waitCalls(q *Queue) <-chan bool {
	ch := make(chan bool, 16)
	q.SetWaitHook(func(waiting bool) { ch <- waiting })
	return ch
}

// expectCalls takes the wait-hook calls want from ch, in order, and fails if
// a different one comes first.
func expectCalls(t *testing.T, ch <-chan bool, want ...bool) {
	t.Helper()
	for i, w := range want {
		if got := recv(t, ch, "a wait-hook call"); got != w {
			t.Fatalf("wait-hook call %d: %v; want %v (sequence %v)", i, got, w, want)
		}
	}
}

func TestQueueBlocksOnBudget(t *testing.T) {
	b := NewBudget(100, 0, 0)
	q1, q2 := NewQueue(1000, b), NewQueue(1000, b)
	calls := waitCalls(q2)
	ctx := context.Background()
	if _, err := q1.Write(ctx, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	// q2 holds nothing, so the full budget still lets it take a chunk.
	if n, err := q2.Write(ctx, make([]byte, 30)); n != 30 || err != nil {
		t.Fatalf("first Write on a full budget = %d, %v; want 30, nil (progress guarantee)", n, err)
	}
	// Now it holds 30 and must wait for room.
	done := goWrite(ctx, q2, make([]byte, 30))
	expectCalls(t, calls, true)
	seg := q1.Pop(100)
	seg.Release() // 30 + 30 fit in 100
	if r := recv(t, done, "Write to return"); r.n != 30 || r.err != nil {
		t.Fatalf("Write = %d, %v; want 30, nil", r.n, r.err)
	}
	expectCalls(t, calls, false)
	if got := b.Used(); got != 60 {
		t.Fatalf("Used() = %d; want 60", got)
	}

	// Abort wakes a Write blocked on the budget, too.
	done = goWrite(ctx, q2, make([]byte, 100))
	expectCalls(t, calls, true)
	errStop := errors.New("stop")
	q2.Abort(errStop)
	if r := recv(t, done, "Write to return"); r.n != 0 || r.err != errStop {
		t.Fatalf("Write = %d, %v; want 0, %v", r.n, r.err, errStop)
	}
	expectCalls(t, calls, false)
	abortAll(t, b, q1)
}

// abortAll aborts qs and checks that they gave every byte back to b.
func abortAll(t *testing.T, b *Budget, qs ...*Queue) {
	t.Helper()
	for _, q := range qs {
		q.Abort(nil)
	}
	if got := b.Used(); got != 0 {
		t.Fatalf("Used() = %d after aborting every queue; want 0", got)
	}
}

// TestQueueProgressGuarantee: with the budget taken by one queue, every
// queue that holds nothing may still take one chunk, and no more until what
// it holds is released; so the budget holds at most its limit plus a chunk
// per queue.
func TestQueueProgressGuarantee(t *testing.T) {
	const limit = 2 * ChunkSize
	b := NewBudget(limit, 0, 0)
	slow, fast, other := NewQueue(4*ChunkSize, b), NewQueue(4*ChunkSize, b), NewQueue(4*ChunkSize, b)
	calls := waitCalls(fast)
	ctx := context.Background()
	if _, err := slow.Write(ctx, make([]byte, limit)); err != nil {
		t.Fatal(err)
	}

	done := goWrite(ctx, fast, make([]byte, ChunkSize+1))
	expectCalls(t, calls, true) // the first chunk went in; the last byte waits
	if got := b.Used(); got != limit+ChunkSize {
		t.Fatalf("Used() = %d with fast blocked; want %d", got, limit+ChunkSize)
	}
	if n, err := other.Write(ctx, make([]byte, ChunkSize)); n != ChunkSize || err != nil {
		t.Fatalf("other queue's Write = %d, %v; want %d, nil", n, err, ChunkSize)
	}
	if got := b.Used(); got != limit+2*ChunkSize {
		t.Fatalf("Used() = %d; want the limit and the two chunks over it, %d", got, limit+2*ChunkSize)
	}

	// Popped, fast still holds its chunk until the writer releases it.
	seg := fast.Pop(ChunkSize)
	select {
	case r := <-done:
		t.Fatalf("Write returned %d, %v while its popped chunk was unreleased", r.n, r.err)
	default:
	}
	seg.Release()
	if r := recv(t, done, "fast's Write to return"); r.n != ChunkSize+1 || r.err != nil {
		t.Fatalf("fast's Write = %d, %v; want %d, nil", r.n, r.err, ChunkSize+1)
	}
	expectCalls(t, calls, false)
	if got := b.Used(); got != limit+ChunkSize+1 {
		t.Fatalf("Used() = %d; want %d", got, limit+ChunkSize+1)
	}
	abortAll(t, b, fast, slow, other)
}

// TestQueueShare: while several queues hold bytes of a budget, each may
// queue an equal part of its limit, at least a chunk; a queue alone keeps
// its own limit, even above the budget's.
func TestQueueShare(t *testing.T) {
	const limit = 8 * ChunkSize
	b := NewBudget(limit, 0, 0)
	qs := make([]*Queue, 5)
	for i := range qs {
		qs[i] = NewQueue(4*ChunkSize, b)
	}
	ctx := context.Background()
	for i, want := range []int{4 * ChunkSize, 4 * ChunkSize, limit / 3, limit / 4, limit / 5} {
		if _, err := qs[i].Write(ctx, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		if got := qs[0].capacity(); got != want {
			t.Fatalf("with %d queues holding bytes: capacity %d; want %d", i+1, got, want)
		}
	}

	// qs[0] holds 100 bytes and may queue limit/5 in all: a Write beyond
	// that waits for its own bytes to leave, not for the others'.
	calls := waitCalls(qs[0])
	share := qs[0].capacity()
	done := goWrite(ctx, qs[0], make([]byte, share))
	expectCalls(t, calls, true)
	if got := qs[0].Len(); got != share {
		t.Fatalf("Len() = %d with the Write blocked; want the share, %d", got, share)
	}
	qs[0].Pop(100).Release()
	if r := recv(t, done, "Write to return"); r.n != share || r.err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", r.n, r.err, share)
	}
	expectCalls(t, calls, false)

	abortAll(t, b, qs...)
	if got := qs[0].capacity(); got != 4*ChunkSize {
		t.Fatalf("capacity %d once no queue holds bytes; want the limit, %d", got, 4*ChunkSize)
	}
	alone := NewQueue(4*ChunkSize, NewBudget(ChunkSize, 0, 0))
	if got := alone.capacity(); got != 4*ChunkSize {
		t.Fatalf("a queue alone on a budget smaller than its limit: capacity %d; want its limit, %d", got, 4*ChunkSize)
	}
}

// TestQueueWaitHookSpace: a Write that blocks for queue space calls the hook
// with true, then false once space is popped; one that does not block never
// calls it.
func TestQueueWaitHookSpace(t *testing.T) {
	q := NewQueue(100, nil)
	calls := waitCalls(q)
	ctx := context.Background()
	if _, err := q.Write(ctx, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-calls:
		t.Fatalf("a Write that did not block called the hook with %v", c)
	default:
	}
	done := goWrite(ctx, q, make([]byte, 10))
	expectCalls(t, calls, true)
	q.Pop(10).Release()
	if r := recv(t, done, "Write to return"); r.n != 10 || r.err != nil {
		t.Fatalf("Write = %d, %v; want 10, nil", r.n, r.err)
	}
	expectCalls(t, calls, false)

	cctx, cancel := context.WithCancel(ctx)
	done = goWrite(cctx, q, make([]byte, 10))
	expectCalls(t, calls, true)
	cancel()
	if r := recv(t, done, "Write to return"); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Write = %d, %v; want context.Canceled", r.n, r.err)
	}
	expectCalls(t, calls, false)
}

// TestQueueConcurrent streams data between a producer and a consumer
// goroutine with random write and pop sizes, and checks every byte; run it
// with -race.
func TestQueueConcurrent(t *testing.T) {
	const total = 8 << 20
	b := NewBudget(3*ChunkSize, 0, 0)
	q := NewQueue(2*ChunkSize+123, b)
	wake := make(chan struct{}, 1)
	q.SetNotify(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	data := pattern(total)

	var wg sync.WaitGroup
	wg.Add(1)
	writeErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(5, 6))
		for p := data; len(p) > 0; {
			k := min(len(p), 1+rng.IntN(3*ChunkSize))
			if _, err := q.Write(context.Background(), p[:k]); err != nil {
				writeErr <- err
				return
			}
			p = p[k:]
		}
		q.CloseWrite()
	}()

	rng := rand.New(rand.NewPCG(7, 8))
	got := make([]byte, 0, total)
	var held []Segment // release some segments late, and out of order
	for !q.Done() {
		seg := q.Pop(1 + rng.IntN(ChunkSize+ChunkSize/2))
		if len(seg.Bytes) == 0 {
			// Like the real writer, never sit on budget while idle:
			// the producer may be waiting for it.
			for _, s := range held {
				s.Release()
			}
			held = held[:0]
			select {
			case <-wake:
			case err := <-writeErr:
				t.Fatal(err)
			case <-time.After(waitTimeout):
				t.Fatal("timed out waiting for data")
			}
			continue
		}
		got = append(got, seg.Bytes...)
		held = append(held, seg)
		if len(held) > 3 || rng.IntN(2) == 0 {
			k := rng.IntN(len(held))
			held[k].Release()
			held = append(held[:k], held[k+1:]...)
		}
	}
	for _, s := range held {
		s.Release()
	}
	wg.Wait()
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
	if used := b.Used(); used != 0 {
		t.Fatalf("budget Used() = %d at the end; want 0", used)
	}
}

// TestQueueZeroAllocs checks that steady-state streaming allocates nothing
// per chunk: chunks come from the pool and go back to it.
func TestQueueZeroAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are checked in full runs without -race")
	}
	ctx := context.Background()
	b := NewBudget(1<<30, 0, 0)
	q := NewQueue(4*ChunkSize, b)
	q.SetNotify(func() {})
	data := pattern(ChunkSize + ChunkSize/2)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := q.Write(ctx, data); err != nil {
			t.Fatal(err)
		}
		for q.Len() > 0 {
			q.Pop(16 << 10).Release()
		}
	})
	if allocs != 0 {
		t.Fatalf("Write+Pop+Release allocated %.2f times per run; want 0", allocs)
	}
}

// TestQueueIdleHoldsNoChunk: once the consumer has popped everything
// written so far, the queue holds no chunk, whatever its size: a thousand
// uploads that each sent a few bytes and went quiet must not pin 64 KiB
// apiece. What is written next arrives intact in a fresh chunk.
func TestQueueIdleHoldsNoChunk(t *testing.T) {
	ctx := context.Background()
	q := NewQueue(4*ChunkSize, nil)
	held := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.chunks) - q.head
	}
	for i, p := range [][]byte{pattern(24), pattern(ChunkSize + 24), pattern(7)} {
		if _, err := q.Write(ctx, p); err != nil {
			t.Fatal(err)
		}
		if got, _ := popRuns(q, ChunkSize); !bytes.Equal(got, p) {
			t.Fatalf("write %d: the bytes popped differ from those written", i)
		}
		if n := held(); n != 0 {
			t.Fatalf("write %d: an emptied queue holds %d chunk(s); want none", i, n)
		}
	}
}

// BenchmarkQueueWritePop streams 64 KiB per operation through a queue on
// one goroutine: Write, then Pop and Release in 16 KiB frames.
func BenchmarkQueueWritePop(b *testing.B) {
	ctx := context.Background()
	q := NewQueue(4*ChunkSize, NewBudget(1<<30, 0, 0))
	data := pattern(ChunkSize)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := q.Write(ctx, data); err != nil {
			b.Fatal(err)
		}
		for q.Len() > 0 {
			q.Pop(16 << 10).Release()
		}
	}
}

// BenchmarkQueueWritePopConcurrent streams through a queue between a
// producer and a consumer goroutine, as a handler and the writer do.
func BenchmarkQueueWritePopConcurrent(b *testing.B) {
	ctx := context.Background()
	q := NewQueue(4*ChunkSize, NewBudget(1<<30, 0, 0))
	wake := make(chan struct{}, 1)
	q.SetNotify(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	data := pattern(ChunkSize)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	go func() {
		for range b.N {
			if _, err := q.Write(ctx, data); err != nil {
				panic(err)
			}
		}
		q.CloseWrite()
	}()
	for !q.Done() {
		seg := q.Pop(1 << 20)
		if len(seg.Bytes) == 0 {
			<-wake
			continue
		}
		seg.Release()
	}
}

// TestInitInPlace: a queue and windows embedded in a struct and set up with
// Init behave as the ones New returns.
func TestInitInPlace(t *testing.T) {
	var parts struct {
		q  Queue
		sw SendWindow
		rw RecvWindow
	}
	parts.q.Init(0, nil)
	parts.sw.Init(100)
	parts.rw.Init(50)
	if parts.q.Limit() != ChunkSize || parts.sw.Available() != 100 || parts.rw.Credit() != 50 || parts.rw.Size() != 50 {
		t.Fatalf("limit %d, send credit %d, receive credit %d size %d", parts.q.Limit(), parts.sw.Available(), parts.rw.Credit(), parts.rw.Size())
	}
	if _, err := parts.q.Write(context.Background(), []byte("abc")); err != nil {
		t.Fatal(err)
	}
	parts.q.CloseWrite()
	seg := parts.q.Pop(10)
	if string(seg.Bytes) != "abc" {
		t.Fatalf("popped %q", seg.Bytes)
	}
	seg.Release()
	if !parts.q.Done() {
		t.Fatal("the drained, closed queue is not done")
	}
}

// TestQueueChannelsMadeLazily: a queue whose producer never blocks makes no
// channels, Abort works without them, and one made after the abort is
// already closed, so that no waiter can miss it.
func TestQueueChannelsMadeLazily(t *testing.T) {
	q := NewQueue(8, nil)
	if _, err := q.Write(context.Background(), []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if q.space != nil || q.aborted != nil {
		t.Fatal("a Write that did not block made the queue's channels")
	}
	q.Abort(nil)
	q.mu.Lock()
	ch := q.abortedLocked()
	q.mu.Unlock()
	select {
	case <-ch:
	default:
		t.Fatal("the abort channel made after Abort is open")
	}

	// A producer blocked for space is woken by a Pop and by an Abort.
	q = NewQueue(4, nil)
	done := make(chan error, 1)
	go func() {
		_, err := q.Write(context.Background(), []byte("0123456789"))
		done <- err
	}()
	for q.Len() < 4 {
		time.Sleep(time.Millisecond)
	}
	q.Pop(4).Release()
	for q.Len() < 4 {
		time.Sleep(time.Millisecond)
	}
	q.Abort(nil)
	select {
	case err := <-done:
		if err != ErrAborted {
			t.Fatalf("blocked Write returned %v, want ErrAborted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Abort did not wake the blocked Write")
	}
}
