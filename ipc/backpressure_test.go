package ipc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// TestStalledConsumerDoesNotBlockOthers: 50 streams, one of whose consumers
// reads nothing. The other 49 complete, and what is held for the stalled one
// stays within its credit: the sender's Write blocks instead.
func TestStalledConsumerDoesNotBlockOthers(t *testing.T) {
	const n, size = 50, 4 << 20
	const window = 256 << 10
	oc, ac := pair(t, &Config{StreamWindow: window}, &Config{SendQueue: 256 << 10})
	ctx := ctxTimeout(t, 60*time.Second)

	var handlers sync.WaitGroup
	stalledWrote := make(chan int64, 1)
	handlers.Add(1)
	go func() {
		defer handlers.Done()
		for i := 0; i < n; i++ {
			st, err := ac.AcceptStream(ctx)
			if err != nil {
				return
			}
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				st.WriteHead(Fields{{":status", "200"}}, false)
				var wrote int64
				chunk := bytes.Repeat([]byte{st.Head().Get("i")[0]}, 64<<10)
				for wrote < size {
					m, err := st.Write(chunk)
					wrote += int64(m)
					if err != nil {
						break
					}
				}
				if st.Head().Get("stalled") != "" {
					stalledWrote <- wrote
					return
				}
				st.CloseWrite()
			}()
		}
	}()

	var stalled *Stream
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		head := Fields{{"i", string(rune('A' + i%26))}}
		if i == 0 {
			head = append(head, Field{"stalled", "yes"})
		}
		st, err := oc.OpenStream(ctx, head, true)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			stalled = st
			continue
		}
		go func() {
			if _, err := st.ReadHead(ctx); err != nil {
				errs <- err
				return
			}
			got, err := io.Copy(io.Discard, st)
			if err == nil && got != size {
				err = fmt.Errorf("stream %d: %d bytes, want %d", st.ID(), got, size)
			}
			errs <- err
		}()
	}
	for i := 1; i < n; i++ {
		if err := within(t, 60*time.Second, errs, "the 49 readable streams"); err != nil {
			t.Fatal(err)
		}
	}
	// The 49 finished while stream 1 was never read: it holds at most its
	// credit on the receiving side, and its handler is blocked in Write.
	if held := stalled.recvq.Len(); held > window {
		t.Fatalf("the stalled stream buffers %d bytes; its credit is %d", held, window)
	}
	select {
	case w := <-stalledWrote:
		t.Fatalf("the stalled stream's handler was not blocked: it wrote all %d bytes", w)
	default:
	}
	stalled.Reset(CodeCancel)
	if w := within(t, 10*time.Second, stalledWrote, "the stalled handler to be released"); w >= size {
		t.Fatalf("stalled handler wrote %d", w)
	}
	handlers.Wait()
}

// TestPingOvertakesQueuedData: an acceptor with tens of MiB queued on 50
// streams answers a ping ahead of that data. A raw peer reads the frames
// and counts the data bytes that arrive between its PING and the reply: only
// what was already in the socket or in the batch being written may come
// first, never the queued megabytes.
func TestPingOvertakesQueuedData(t *testing.T) {
	const n, perStream = 50, 1 << 20
	hello := defaultHello()
	hello.StreamWindow = perStream // every queued byte has credit
	p, c, err := newRawPeer(t, roleOpener, hello, server(&Config{SendQueue: perStream}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 30*time.Second)
	var handlers sync.WaitGroup
	for i := 0; i < n; i++ {
		p.write(frameHead, flagEndStream, uint32(2*i+1), head(":path", "/"))
		st, err := c.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			st.WriteHead(Fields{{":status", "200"}}, false)
			st.Write(make([]byte, perStream))
			st.CloseWrite()
		}()
	}
	// Let the queues fill and the socket back up: read one frame.
	p.read()
	waitFor(t, func() bool { return queued(c) > n*perStream/2 }, "queues to fill")
	sndbuf := 2 * (4 << 20) // generous: the kernel buffer may hold this much
	p.write(framePing, 0, 0, binary.BigEndian.AppendUint64(nil, 77))
	var before int
	for {
		h, pl := p.read()
		if h.Type == framePing && h.Flags&flagAck != 0 {
			if binary.BigEndian.Uint64(pl) != 77 {
				t.Fatalf("pong for %d", binary.BigEndian.Uint64(pl))
			}
			break
		}
		if h.Type == frameData {
			before += int(h.Length)
		}
	}
	limit := sndbuf + DefaultMaxBatch
	t.Logf("data bytes read between PING and its reply: %d (limit %d, queued at ping %d)", before, limit, n*perStream)
	if before > limit {
		t.Fatalf("%d data bytes arrived before the pong; a control frame waited behind data", before)
	}
	// Drain so the handlers finish.
	go func() {
		for {
			if _, _, err := readFrame(p.br, make([]byte, headerSize), make([]byte, maxFramePayload), maxFramePayload); err != nil {
				return
			}
		}
	}()
	handlers.Wait()
	p.nc.Close()
}

func queued(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, st := range c.streams {
		total += st.QueuedBytes()
	}
	return total
}

// TestPingsStayPromptUnderLoad: while 50 streams move data, every ping is
// answered, and answered before the data finishes.
func TestPingsStayPromptUnderLoad(t *testing.T) {
	const n, size = 50, 2 << 20
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 60*time.Second)
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
				st.WriteHead(Fields{{":status", "200"}}, false)
				buf := make([]byte, 32<<10)
				for w := 0; w < size; w += len(buf) {
					if _, err := st.Write(buf); err != nil {
						return
					}
				}
				st.CloseWrite()
			}()
		}
	}()
	remaining := make(chan struct{})
	var readers sync.WaitGroup
	for i := 0; i < n; i++ {
		st, err := oc.OpenStream(ctx, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			st.ReadHead(ctx)
			io.Copy(io.Discard, st)
		}()
	}
	go func() { readers.Wait(); close(remaining) }()
	answered, duringLoad := 0, 0
	var worst time.Duration
	for {
		select {
		case <-remaining:
			wg.Wait()
			t.Logf("%d pings answered, %d while data was moving; worst RTT %v", answered, duringLoad, worst)
			if duringLoad == 0 {
				t.Fatal("no ping was answered while the streams were moving data")
			}
			return
		default:
		}
		pctx := ctxTimeout(t, 10*time.Second)
		rtt, err := oc.Ping(pctx)
		if err != nil {
			t.Fatalf("ping under load: %v", err)
		}
		answered++
		worst = max(worst, rtt)
		select {
		case <-remaining:
		default:
			duringLoad++
		}
	}
}
