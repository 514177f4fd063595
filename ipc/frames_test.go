package ipc

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/stream"
)

// TestDataFramesSpanChunksUpToPeerMax checks the writer's framing against
// a raw peer: DATA frames never exceed the max frame payload the peer
// announced, and when the peer accepts large frames one frame carries
// several queue chunks (so the receiver can read long runs of payload
// straight from the socket) rather than one header per chunk.
func TestDataFramesSpanChunksUpToPeerMax(t *testing.T) {
	const size = 2 << 20
	for _, limit := range []uint32{16 << 10, 256 << 10, 1 << 20} {
		t.Run(fmt.Sprintf("max=%d", limit), func(t *testing.T) {
			hello := defaultHello()
			hello.MaxFramePayload = limit
			hello.StreamWindow = 2 * size // no credit needed
			p, c, err := newRawPeer(t, roleOpener, hello, server(nil))
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctxTimeout(t, 10*time.Second)
			p.write(frameHead, flagEndStream, 1, head(":path", "/"))
			st, err := c.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			body := pattern(5, size)
			go func() {
				st.WriteHead(Fields{{":status", "200"}}, false)
				for b := body; len(b) > 0; b = b[min(len(b), 64<<10):] {
					st.Write(b[:min(len(b), 64<<10)])
				}
				st.CloseWrite()
			}()
			var got bytes.Buffer
			largest := 0
			for {
				h, pl := p.read()
				if h.Type == frameEnd {
					break
				}
				if h.Type != frameData {
					continue
				}
				if h.Length > limit {
					t.Fatalf("DATA frame of %d bytes; the peer accepts at most %d", h.Length, limit)
				}
				largest = max(largest, int(h.Length))
				got.Write(pl)
			}
			if !bytes.Equal(got.Bytes(), body) {
				t.Fatalf("received %d bytes that differ from the %d sent", got.Len(), len(body))
			}
			if limit > stream.ChunkSize && largest <= stream.ChunkSize {
				t.Fatalf("largest DATA frame %d bytes with a peer max of %d: frames do not span queue chunks", largest, limit)
			}
		})
	}
}

// TestHeadLargerThanFieldBlockLimitIsRefused: a head or trailers too large
// for one HEAD or END frame fail at the sender with a clear error, and the
// connection lives on, even though DATA frames may be much larger.
func TestHeadLargerThanFieldBlockLimitIsRefused(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	big := Fields{{"x-big", string(make([]byte, maxFieldBlockFrame))}}
	if _, err := oc.OpenStream(ctx, big, true); err == nil || !strings.Contains(err.Error(), "a HEAD frame may carry") {
		t.Fatalf("OpenStream with a %d-byte head: %v; want an error naming the limit", maxFieldBlockFrame, err)
	}
	st, err := oc.OpenStream(ctx, Fields{{":path", "/"}}, false)
	if err != nil {
		t.Fatalf("the connection did not survive a refused head: %v", err)
	}
	if err := st.End(CodeOK, big); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("End with %d bytes of trailers: %v; want an error naming the limit", maxFieldBlockFrame, err)
	}
	st.Reset(CodeCancel)
	if oc.Err() != nil || ac.Err() != nil {
		t.Fatalf("connection failed: %v / %v", oc.Err(), ac.Err())
	}
}
