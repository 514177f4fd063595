package stream

import (
	"bytes"
	"io"
	"runtime"
	"testing"
)

// popRuns pops everything queued in runs of at most max bytes and returns
// the bytes and the length of each run.
func popRuns(q *Queue, max int) (data []byte, runs []int) {
	for {
		s := q.Pop(max)
		if len(s.Bytes) == 0 {
			return data, runs
		}
		data = append(data, s.Bytes...)
		runs = append(runs, len(s.Bytes))
		s.Release()
	}
}

func TestGrowChunksAfterThreshold(t *testing.T) {
	q := NewQueue(8*LargeChunkSize, nil)
	q.GrowChunks(LargeChunkSize)
	src := pattern(LargeChunkSize + 2*LargeChunkSize + 500)
	if n, err := q.Fill(bytes.NewReader(src), len(src)); n != len(src) || err != nil {
		t.Fatalf("Fill: %d, %v", n, err)
	}
	got, runs := popRuns(q, len(src))
	if !bytes.Equal(got, src) {
		t.Fatal("popped bytes differ from what was filled")
	}
	// The first MiB in 16 small chunks, then two large ones and the rest.
	want := make([]int, 0, 19)
	for range LargeChunkSize / ChunkSize {
		want = append(want, ChunkSize)
	}
	want = append(want, LargeChunkSize, LargeChunkSize, 500)
	if len(runs) != len(want) {
		t.Fatalf("popped runs %v; want %v", runs, want)
	}
	for i := range want {
		if runs[i] != want[i] {
			t.Fatalf("run %d is %d bytes; want %d (all runs: %v)", i, runs[i], want[i], runs)
		}
	}
}

func TestGrowChunksNeverByDefault(t *testing.T) {
	q := NewQueue(4*LargeChunkSize, nil)
	src := pattern(3 * LargeChunkSize)
	if _, err := q.Fill(bytes.NewReader(src), len(src)); err != nil {
		t.Fatal(err)
	}
	_, runs := popRuns(q, len(src))
	for i, r := range runs {
		if r != ChunkSize {
			t.Fatalf("run %d is %d bytes; a queue that was not told to grow hands out at most ChunkSize", i, r)
		}
	}
}

// TestGrowChunksPopBetweenFills pops a large chunk in the pieces that have
// arrived between fills and checks that nothing is lost or reordered when a
// drained chunk is dropped and the next fill takes a fresh one.
func TestGrowChunksPopBetweenFills(t *testing.T) {
	q := NewQueue(4*LargeChunkSize, nil)
	q.GrowChunks(1)
	src := pattern(LargeChunkSize + 1000)
	r := bytes.NewReader(src)
	var got []byte
	steps := []int{1, 300 << 10, 1, 700 << 10}
	rest := len(src)
	for _, s := range steps {
		rest -= s
	}
	for _, step := range append(steps, rest) {
		if _, err := q.Fill(r, step); err != nil {
			t.Fatal(err)
		}
		data, _ := popRuns(q, LargeChunkSize)
		got = append(got, data...)
	}
	tail, _ := popRuns(q, LargeChunkSize)
	got = append(got, tail...)
	if r.Len() != 0 || !bytes.Equal(got, src) {
		t.Fatalf("got %d bytes (reader left %d); want the %d filled, in order", len(got), r.Len(), len(src))
	}
}

func TestGrowChunksZeroAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are checked in full runs without -race")
	}
	q := NewQueue(4*LargeChunkSize, nil)
	q.GrowChunks(1)
	src := pattern(LargeChunkSize + LargeChunkSize/2)
	r := bytes.NewReader(src)
	allocs := testing.AllocsPerRun(50, func() {
		r.Reset(src)
		if _, err := q.Fill(r, len(src)); err != nil {
			t.Fatal(err)
		}
		for q.Len() > 0 {
			q.Pop(256 << 10).Release()
		}
	})
	if allocs != 0 {
		t.Fatalf("Fill+Pop+Release of large chunks allocated %.2f times per run; want 0", allocs)
	}
}

// TestGrowChunksConcurrentFillAndPop races a filler and a popper on large
// chunks, as the connection's reader and a stream's consumer do: under
// -race this catches a chunk recycled or dropped while the other side
// still uses it, and the bytes must come out whole and in order.
func TestGrowChunksConcurrentFillAndPop(t *testing.T) {
	const total = 24 << 20
	q := NewQueue(4*LargeChunkSize, nil)
	q.GrowChunks(1)
	space := make(chan struct{}, 1)
	src := pattern(total)
	done := make(chan error, 1)
	go func() {
		r := bytes.NewReader(src)
		for r.Len() > 0 {
			// Fill never blocks for space (its caller guarantees it), so
			// the test keeps within the limit as credit would.
			k := min(r.Len(), 1+r.Len()%(300<<10))
			for q.Len()+k > q.Limit() {
				<-space
			}
			if _, err := q.Fill(r, k); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got := make([]byte, 0, total)
	for len(got) < total {
		s := q.Pop(1 + len(got)%(700<<10))
		if len(s.Bytes) == 0 {
			select {
			case space <- struct{}{}:
			default:
			}
			continue
		}
		got = append(got, s.Bytes...)
		s.Release()
		select {
		case space <- struct{}{}:
		default:
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("bytes popped differ from the bytes filled")
	}
}

// TestGrowChunksIdleQueueHoldsNoLargeChunk: once a consumer has popped
// everything, a queue with large chunks keeps none of them, so a stream that
// goes quiet pins no memory (TestQueueIdleHoldsNoChunk: nor a small one).
func TestGrowChunksIdleQueueHoldsNoLargeChunk(t *testing.T) {
	q := NewQueue(4*LargeChunkSize, nil)
	q.GrowChunks(1)
	src := pattern(LargeChunkSize + 1000)
	if _, err := q.Fill(bytes.NewReader(src), len(src)); err != nil {
		t.Fatal(err)
	}
	popRuns(q, LargeChunkSize)
	q.mu.Lock()
	held := len(q.chunks) - q.head
	q.mu.Unlock()
	if held != 0 {
		t.Fatalf("an emptied queue still holds %d chunk(s); want none", held)
	}
	more := pattern(5000)
	if _, err := q.Fill(bytes.NewReader(more), len(more)); err != nil {
		t.Fatal(err)
	}
	if got, _ := popRuns(q, LargeChunkSize); !bytes.Equal(got, more) {
		t.Fatal("data filed after the drained chunk was dropped came out wrong")
	}
}

// TestPopKeepsTheChunkFillIsReadingInto: a chunk that Pop drains while
// Fill reads into it outside the lock stays in the queue, so the bytes Fill
// then files come out of it: the bytes a consumer took were only those
// written before the read began.
func TestPopKeepsTheChunkFillIsReadingInto(t *testing.T) {
	q := NewQueue(4*ChunkSize, nil)
	first := pattern(100)
	if _, err := q.Fill(bytes.NewReader(first), len(first)); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	filled := make(chan error, 1)
	go func() {
		_, err := q.Fill(pr, 50)
		filled <- err
	}()
	// Fill marks the chunk it reads into before it reads, under the lock.
	for {
		q.mu.Lock()
		reading := q.filling != nil
		q.mu.Unlock()
		if reading {
			break
		}
		runtime.Gosched()
	}
	if got, _ := popRuns(q, ChunkSize); !bytes.Equal(got, first) {
		t.Fatal("the bytes filled before the read began came out wrong")
	}
	second := pattern(150)[100:]
	if _, err := pw.Write(second); err != nil {
		t.Fatal(err)
	}
	if err := <-filled; err != nil {
		t.Fatal(err)
	}
	if got, _ := popRuns(q, ChunkSize); !bytes.Equal(got, second) {
		t.Fatalf("the bytes Fill read while their chunk was drained came out as %d bytes; want %d", len(got), len(second))
	}
}
