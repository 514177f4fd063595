package ipc

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestWholeResponsesStayWholeWhenTheSocketIsFull: whole responses written
// while the peer reads nothing fill the socket, so that the ones written
// directly find it full, or room for part of them only, and the writer
// goroutine takes the rest. Once the peer reads, every response arrives
// complete, its HEAD, DATA and END one after the other: no frame is cut
// or overtaken by another.
func TestWholeResponsesStayWholeWhenTheSocketIsFull(t *testing.T) {
	p, ac, err := newRawPeer(t, roleOpener, defaultHello(), server(nil))
	if err != nil {
		t.Fatal(err)
	}
	const streams, size = 40, 60 << 10
	body := func(id uint32) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("%08d", id)), size/8)
	}
	for i := range streams {
		p.write(frameHead, flagEndStream, uint32(2*i+1), appendFields(nil, Fields{{":method", "GET"}, {":path", "/"}}))
	}
	ctx := ctxTimeout(t, 10*time.Second)
	for range streams {
		st, err := ac.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Never blocks: the body is covered by credit, and the writes
		// that do not fit wait in the writer.
		if err := st.WriteResponse(Fields{{":status", "200"}}, body(st.ID()), nil); err != nil {
			t.Fatal(err)
		}
	}
	for range streams {
		h, _ := p.read()
		for h.Type == frameLoad {
			h, _ = p.read()
		}
		if h.Type != frameHead {
			t.Fatalf("got %s; want the HEAD of a response", h)
		}
		id := h.StreamID
		d, pl := p.read()
		if d.Type != frameData || d.StreamID != id || !bytes.Equal(pl, body(id)) {
			t.Fatalf("after the HEAD of stream %d: %s; want its DATA of %d bytes, whole", id, d, size)
		}
		if e, _ := p.read(); e.Type != frameEnd || e.StreamID != id {
			t.Fatalf("after the DATA of stream %d: %s; want its END", id, e)
		}
	}
}

// TestWholeResponseCarriesQueuedLoad: a load report queued to go with the
// next batch leaves with the whole response that follows it, even when no
// batch of the writer's follows.
func TestWholeResponseCarriesQueuedLoad(t *testing.T) {
	p, ac, err := newRawPeer(t, roleOpener, defaultHello(), server(nil))
	if err != nil {
		t.Fatal(err)
	}
	p.write(frameHead, flagEndStream, 1, appendFields(nil, Fields{{":method", "GET"}, {":path", "/"}}))
	st, err := ac.AcceptStream(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ac.QueueLoad(Load{InFlight: 7, Limit: 9})
	if err := st.WriteResponse(Fields{{":status", "200"}}, []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	for {
		h, pl := p.read()
		if h.Type != frameLoad {
			continue
		}
		if l := parseLoad(pl); l.InFlight != 7 || l.Limit != 9 {
			t.Fatalf("load report %+v; want the one queued", l)
		}
		return
	}
}
