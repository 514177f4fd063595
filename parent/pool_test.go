package parent

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"golang.org/x/sys/unix"
)

// ipcPair returns the opener end of a real ipc connection; the acceptor end
// is closed at cleanup.
func ipcPair(t *testing.T) *ipc.Conn {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "sp")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return ipcOver(t, conn(fds[0]), conn(fds[1]))
}

// ipcOver runs the ipc handshake over a and b and returns the opener end,
// a's; both ends close at cleanup.
func ipcOver(t *testing.T, a, b net.Conn) *ipc.Conn {
	t.Helper()
	srv := make(chan *ipc.Conn, 1)
	go func() {
		c, _ := ipc.Server(b, nil)
		srv <- c
	}()
	oc, err := ipc.Client(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	ac := <-srv
	t.Cleanup(func() {
		oc.Close()
		if ac != nil {
			ac.Close()
		}
	})
	return oc
}

func TestPoolPicksMostSpareAndQueues(t *testing.T) {
	p := &pool{limit: 2, maxQueue: 1, retryLo: time.Second, retryHi: time.Minute}
	b1 := &backend{id: 1, conn: ipcPair(t)}
	b2 := &backend{id: 2, conn: ipcPair(t)}
	p.add(b1)
	p.add(b2)
	ctx := context.Background()
	var got []int
	for i := 0; i < 4; i++ {
		b, err := p.acquire(ctx, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.id)
	}
	// Each pick goes to the backend with the most room: they alternate.
	if got[0] == got[1] || got[2] == got[3] {
		t.Fatalf("picks %v; want alternation by spare capacity", got)
	}
	// Full: one request may wait; a second is refused at once.
	granted := make(chan *backend, 1)
	go func() {
		b, err := p.acquire(ctx, 10*time.Second, nil)
		if err != nil {
			t.Error(err)
		}
		granted <- b
	}()
	waitUntil(t, func() bool { _, w := p.counts(); return w == 1 })
	_, err := p.acquire(ctx, time.Second, nil)
	if !errors.Is(err, errQueueFull) {
		t.Fatalf("acquire with a full queue: %v; want errQueueFull", err)
	}
	// The refusal carries what its 503 says, taken with the decision.
	var r *refusal
	if !errors.As(err, &r) || r.open != 4 || r.waiting != 1 || r.retryAfter != p.retryLo {
		t.Fatalf("refusal %+v; want 4 open, 1 waiting, Retry-After %v (no rate measured yet)", r, p.retryLo)
	}
	p.release(b1)
	select {
	case b := <-granted:
		if b != b1 {
			t.Fatalf("waiter got backend %d; want the one released", b.id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not granted the released slot")
	}
}

func TestPoolQueueTimeout(t *testing.T) {
	p := &pool{limit: 1, maxQueue: 10}
	b := &backend{id: 1, conn: ipcPair(t)}
	p.add(b)
	if _, err := p.acquire(context.Background(), time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.acquire(context.Background(), 20*time.Millisecond, nil); !errors.Is(err, errQueueTimeout) {
		t.Fatalf("got %v; want errQueueTimeout", err)
	}
	if _, w := p.counts(); w != 0 {
		t.Fatalf("%d waiters left after a timeout", w)
	}
	empty := &pool{limit: 1, maxQueue: 10}
	if _, err := empty.acquire(context.Background(), 20*time.Millisecond, nil); !errors.Is(err, errNoWorkers) {
		t.Fatalf("no backends: %v; want errNoWorkers", err)
	}
}

func TestPoolExcludeAndGoingAway(t *testing.T) {
	p := &pool{limit: 4, maxQueue: 10}
	b1 := &backend{id: 1, conn: ipcPair(t)}
	b2 := &backend{id: 2, conn: ipcPair(t)}
	p.add(b1)
	p.add(b2)
	b, err := p.acquire(context.Background(), time.Second, b1)
	if err != nil || b != b2 {
		t.Fatalf("acquire excluding 1: %v, %v", b, err)
	}
	b2.conn.GoAway(ipc.CodeShutdown, "test")
	b, err = p.acquire(context.Background(), time.Second, nil)
	if err != nil || b != b1 {
		t.Fatalf("acquire with 2 going away: got %v, %v; want backend 1", b, err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
