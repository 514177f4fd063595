package stream_test

import (
	"context"
	"fmt"

	"github.com/sluicegw/sluice/stream"
)

// A Queue between a handler's Write and the connection's writer: Pop hands
// out the bytes without copying them, and Release gives their memory (and
// their share of the budget) back once they are on the wire.
func ExampleQueue() {
	q := stream.NewQueue(1<<20, nil)
	q.Write(context.Background(), []byte("hello, "))
	q.Write(context.Background(), []byte("sluice"))
	q.CloseWrite()
	fmt.Println("queued:", q.Len())

	for {
		seg := q.Pop(4)
		if len(seg.Bytes) == 0 {
			break
		}
		fmt.Printf("%q\n", seg.Bytes)
		seg.Release()
	}
	fmt.Println("done:", q.Done())
	// Output:
	// queued: 13
	// "hell"
	// "o, s"
	// "luic"
	// "e"
	// done: true
}

// The scheduler sends control frames first, whatever data is waiting, then
// data as the policy picks it: the sequential policy serves the oldest
// stream that can send.
func ExampleScheduler() {
	s := stream.NewScheduler(stream.NewSequential(stream.DefaultThreshold))
	src := map[uint32]*backlog{1: {n: 100}, 3: {n: 50}}
	s.Open(1, src[1])
	s.Open(3, src[3])
	s.PushControl([]byte("PING"))

	for {
		ctl, id, n, ok := s.Pop(64)
		if !ok {
			break
		}
		if ctl != nil {
			fmt.Printf("control %s\n", ctl)
			continue
		}
		src[id].n -= n // the writer sends them
		fmt.Printf("stream %d: %d bytes\n", id, n)
	}
	// Output:
	// control PING
	// stream 1: 64 bytes
	// stream 1: 36 bytes
	// stream 3: 50 bytes
}

// The round-robin policy gives each stream a quantum in turn.
func ExampleNewRoundRobin() {
	s := stream.NewScheduler(stream.NewRoundRobin(40))
	src := map[uint32]*backlog{1: {n: 100}, 3: {n: 50}}
	s.Open(1, src[1])
	s.Open(3, src[3])
	for {
		_, id, n, ok := s.Pop(64)
		if !ok {
			break
		}
		src[id].n -= n
		fmt.Printf("stream %d: %d bytes\n", id, n)
	}
	// Output:
	// stream 1: 40 bytes
	// stream 3: 40 bytes
	// stream 1: 40 bytes
	// stream 3: 10 bytes
	// stream 1: 20 bytes
}

// A Budget's watermarks have hysteresis: High turns true when the backlog
// (what the writers could send now) reaches the high mark and stays true
// until it falls to the low one. The worker's admission gate starts no new
// handler while it is true. Bytes held that cannot be sent count in Used, the
// memory, but not in the backlog.
func ExampleBudget() {
	b := stream.NewBudget(1000, 800, 200)
	ctx := context.Background()

	b.Acquire(ctx, 900) // queued, but the peer granted no credit
	fmt.Println("used", b.Used(), "high", b.High())
	b.AddBacklog(800) // credit came: the writer could send 800 now
	fmt.Println("backlog", b.Backlog(), "high", b.High())
	b.AddBacklog(-400)
	fmt.Println("backlog", b.Backlog(), "high", b.High())
	b.AddBacklog(-200)
	fmt.Println("backlog", b.Backlog(), "high", b.High())
	fmt.Println("fits 900 more:", b.TryAcquire(900))
	// Output:
	// used 900 high false
	// backlog 800 high true
	// backlog 400 high true
	// backlog 200 high false
	// fits 900 more: false
}

// Credit: the receiver grants its window back in batches of a quarter, and
// the sender may never send more than it holds.
func ExampleRecvWindow() {
	recv := stream.NewRecvWindow(1000)
	send := stream.NewSendWindow(1000)

	n := send.Take(600) // the sender sends 600 bytes
	recv.Receive(n)
	fmt.Println("sender credit left:", send.Available())

	fmt.Println("grant after 100 read:", recv.Consumed(100))
	grant := recv.Consumed(200)
	fmt.Println("grant after 300 read:", grant)
	send.Add(grant) // a WINDOW frame carries it back
	fmt.Println("sender credit now:", send.Available())
	fmt.Println("a zero grant:", send.Add(0) != nil)
	// Output:
	// sender credit left: 400
	// grant after 100 read: 0
	// grant after 300 read: 300
	// sender credit now: 700
	// a zero grant: true
}

// backlog is a Source with n bytes queued and covered by credit; the loops
// above take away what they send, as the connection's writer does when it
// pops a stream's queue.
type backlog struct{ n int }

func (b *backlog) Sendable() int { return b.n }
