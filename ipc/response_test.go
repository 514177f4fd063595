package ipc

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// writeLog is a net.Conn that records every Write: net.Buffers.WriteTo
// calls Write once per buffer on a conn it cannot writev on, so each record
// is one buffer of a batch.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (l *writeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.writes = append(l.writes, bytes.Clone(p))
	l.mu.Unlock()
	return l.Conn.Write(p)
}

func (l *writeLog) find(sub []byte) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	for _, w := range l.writes {
		if bytes.Contains(w, sub) {
			out = append(out, w)
		}
	}
	return out
}

// acceptRaw has a raw peer open stream 1 with a GET head and returns the
// accepted stream.
func acceptRaw(t *testing.T, p *rawPeer, c *Conn) *Stream {
	t.Helper()
	p.write(frameHead, flagEndStream, 1, head(":path", "/"))
	st, err := c.AcceptStream(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestWriteResponseIsOneUnit: a response that fits a frame and the credit
// goes out as HEAD (without END_STREAM), DATA and END, one after the other,
// from one buffer of one batch.
func TestWriteResponseIsOneUnit(t *testing.T) {
	var log *writeLog
	p, c, err := newRawPeer(t, roleOpener, defaultHello(), func(nc net.Conn) (*Conn, error) {
		log = &writeLog{Conn: nc}
		return Server(log, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	st := acceptRaw(t, p, c)
	body := bytes.Repeat([]byte("0123456789abcdef"), 256)
	trailers := Fields{{"Content-Digest", "sha-256=:x:"}}
	if err := st.WriteResponse(Fields{{":status", "200"}, {"Content-Length", "4096"}}, body, trailers); err != nil {
		t.Fatal(err)
	}
	h, pl := p.read()
	if h.Type != frameHead || h.StreamID != 1 || h.Flags&flagEndStream != 0 {
		t.Fatalf("first frame %s, want HEAD on stream 1 without END_STREAM", h)
	}
	f, err := parseFields(pl)
	if err != nil || !slices.Equal(f, Fields{{":status", "200"}, {"Content-Length", "4096"}}) {
		t.Fatalf("head %v (%v)", f, err)
	}
	h, pl = p.read()
	if h.Type != frameData || h.StreamID != 1 || !bytes.Equal(pl, body) {
		t.Fatalf("second frame %s with %d bytes, want DATA with the body", h, len(pl))
	}
	h, pl = p.read()
	if h.Type != frameEnd || h.StreamID != 1 || binary.BigEndian.Uint32(pl) != uint32(CodeOK) {
		t.Fatalf("third frame %s %x, want END OK", h, pl)
	}
	if f, err := parseFields(pl[4:]); err != nil || !slices.Equal(f, trailers) {
		t.Fatalf("trailers %v (%v)", f, err)
	}
	if w := log.find(body); len(w) != 1 || !bytes.Contains(w[0], []byte("Content-Length")) || !bytes.Contains(w[0], []byte("Content-Digest")) {
		t.Fatalf("the body went out in %d writes, want one write holding head, body and trailers", len(w))
	}
	if st.sendWin.Available() != DefaultStreamWindow-len(body) {
		t.Errorf("credit left %d, want %d", st.sendWin.Available(), DefaultStreamWindow-len(body))
	}
	if _, err := st.Write([]byte("x")); err != ErrWriteClosed {
		t.Errorf("Write after WriteResponse: %v, want ErrWriteClosed", err)
	}
	if err := st.WriteResponse(Fields{{":status", "200"}}, nil, nil); err == nil {
		t.Error("a second WriteResponse succeeded")
	}
}

// TestWriteResponseBeyondCreditStreams: a body larger than the peer's
// credit goes through the send queue, so flow control holds: the HEAD
// first, DATA up to the credit, and the rest once the peer grants more.
func TestWriteResponseBeyondCreditStreams(t *testing.T) {
	hello := defaultHello()
	hello.StreamWindow = 1 << 16
	p, c, err := newRawPeer(t, roleOpener, hello, server(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := acceptRaw(t, p, c)
	body := bytes.Repeat([]byte("y"), 1<<16+1000)
	done := make(chan error, 1)
	go func() { done <- st.WriteResponse(Fields{{":status", "200"}}, body, nil) }()
	var got []byte
	h, _ := p.read()
	if h.Type != frameHead || h.Flags&flagEndStream != 0 {
		t.Fatalf("first frame %s, want HEAD without END_STREAM", h)
	}
	for len(got) < 1<<16 {
		h, pl := p.read()
		if h.Type != frameData {
			t.Fatalf("frame %s after %d bytes, want DATA", h, len(got))
		}
		got = append(got, pl...)
	}
	if len(got) != 1<<16 {
		t.Fatalf("%d bytes sent on 64 KiB of credit", len(got))
	}
	p.write(frameWindow, 0, 1, u32(1000))
	for {
		h, pl := p.read()
		if h.Type == frameEnd {
			break
		}
		if h.Type != frameData {
			t.Fatalf("frame %s, want DATA or END", h)
		}
		got = append(got, pl...)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("body of %d bytes, want %d", len(got), len(body))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestWriteResponseEmpty: no body and no trailers is a HEAD with
// END_STREAM, as WriteHead(head, true) sends.
func TestWriteResponseEmpty(t *testing.T) {
	p, c, err := newRawPeer(t, roleOpener, defaultHello(), server(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := acceptRaw(t, p, c)
	if err := st.WriteResponse(Fields{{":status", "204"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if h, _ := p.read(); h.Type != frameHead || h.Flags&flagEndStream == 0 {
		t.Fatalf("frame %s, want HEAD with END_STREAM", h)
	}
	// The stream is over both ways: the next frame is the ping's answer.
	p.write(framePing, 0, 0, make([]byte, 8))
	if h, _ := p.read(); h.Type != framePing {
		t.Fatalf("frame %s, want the PING reply", h)
	}
}

// TestWriteResponseBuffersAreReusedSafely: whole responses' buffers go back
// to their pool only once written, also when a tiny batch makes control
// frames spill over several passes: every body arrives intact.
func TestWriteResponseBuffersAreReusedSafely(t *testing.T) {
	for _, maxBatch := range []int{0, 1} {
		oc, ac := pair(t, nil, &Config{MaxBatch: maxBatch})
		ctx := ctxTimeout(t, 20*time.Second)
		const n = 200
		go func() {
			for i := range n {
				st, err := ac.AcceptStream(ctx)
				if err != nil {
					return
				}
				body := bytes.Repeat([]byte{byte(i)}, 100+i*37)
				if err := st.WriteResponse(Fields{{":status", "200"}}, body, nil); err != nil {
					t.Errorf("stream %d: %v", i, err)
				}
			}
		}()
		streams := make([]*Stream, n)
		for i := range streams {
			st, err := oc.OpenStream(ctx, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			streams[i] = st
		}
		for i, st := range streams {
			got, err := io.ReadAll(st)
			if err != nil {
				t.Fatalf("max batch %d, stream %d: %v", maxBatch, i, err)
			}
			if want := bytes.Repeat([]byte{byte(i)}, 100+i*37); !bytes.Equal(got, want) {
				t.Fatalf("max batch %d, stream %d: the body is not what was sent", maxBatch, i)
			}
		}
	}
}
