package child

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child/digest"
	"github.com/sluicegw/sluice/ipc"
)

// writeLog is the worker's end of the socket, recording every Write. The
// connection's writer hands a batch to net.Buffers.WriteTo, which on a conn
// it cannot writev on calls Write once per buffer: a response sent as one
// unit (ipc.Stream.WriteResponse) is one buffer, hence one Write.
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

// withBody returns the writes that contain body.
func (l *writeLog) withBody(body []byte) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	for _, w := range l.writes {
		if bytes.Contains(w, body) {
			out = append(out, w)
		}
	}
	return out
}

// wireFrame is a frame as docs/PROTOCOL.md lays it out: a 12-byte header
// (length, type, flags, reserved, stream id) and the payload.
type wireFrame struct {
	typ, flags byte
	stream     uint32
	payload    []byte
}

// Frame types and the END_STREAM flag, from docs/PROTOCOL.md.
const (
	wireData      = 0x0
	wireHead      = 0x1
	wireEnd       = 0x2
	wireEndStream = 0x1
)

func parseWire(t *testing.T, b []byte) []wireFrame {
	t.Helper()
	var fs []wireFrame
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("%d bytes left, less than a frame header", len(b))
		}
		n := int(binary.BigEndian.Uint32(b))
		if len(b) < 12+n {
			t.Fatalf("frame of %d bytes with %d left", n, len(b)-12)
		}
		fs = append(fs, wireFrame{typ: b[4], flags: b[5], stream: binary.BigEndian.Uint32(b[8:]), payload: b[12 : 12+n]})
		b = b[12+n:]
	}
	return fs
}

func startLoggedWorker(t *testing.T, h http.Handler) (*worker, *writeLog) {
	var log *writeLog
	wk := startWorkerOn(t, context.Background(), h, nil, nil, func(c net.Conn) net.Conn {
		log = &writeLog{Conn: c}
		return log
	})
	return wk, log
}

// TestSmallResponseIsOneBatch: a handler that returns having written a small
// body without a Content-Length gets one, and its HEAD, DATA and END leave
// together, in that order, in one write.
func TestSmallResponseIsOneBatch(t *testing.T) {
	body := []byte(strings.Repeat("<p>small response</p>", 195)) // a little over 4 KiB
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body[:100]) // held back: two writes, one unit
		w.Write(body[100:])
	})
	wk, log := startLoggedWorker(t, h)
	st := wk.get(t, "/")
	resp := readHead(t, st)
	if got := resp.header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q, want %d", got, len(body))
	}
	if ct := resp.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("sniffed Content-Type %q, want text/html; charset=utf-8", ct)
	}
	if got := mustBody(t, st); got != string(body) {
		t.Errorf("body of %d bytes, want %d", len(got), len(body))
	}
	writes := log.withBody(body)
	if len(writes) != 1 {
		t.Fatalf("the body went out in %d writes, want 1", len(writes))
	}
	fs := parseWire(t, writes[0])
	if len(fs) != 3 {
		t.Fatalf("%d frames in the write, want HEAD, DATA, END", len(fs))
	}
	if fs[0].typ != wireHead || fs[0].flags&wireEndStream != 0 || !bytes.Contains(fs[0].payload, []byte("Content-Length")) {
		t.Errorf("first frame type %d flags %d, want a HEAD without END_STREAM that carries Content-Length", fs[0].typ, fs[0].flags)
	}
	if fs[1].typ != wireData || !bytes.Equal(fs[1].payload, body) {
		t.Errorf("second frame type %d with %d bytes, want DATA with the body", fs[1].typ, len(fs[1].payload))
	}
	if fs[2].typ != wireEnd || binary.BigEndian.Uint32(fs[2].payload) != uint32(ipc.CodeOK) {
		t.Errorf("third frame type %d, want END with OK", fs[2].typ)
	}
	for _, f := range fs {
		if f.stream != st.ID() {
			t.Errorf("a frame for stream %d, want %d", f.stream, st.ID())
		}
	}
}

// TestStreamedResponsesSendTheHeadFirst: a Flush, or a body past the bound,
// sends the head while the handler still runs, without a Content-Length.
func TestStreamedResponsesSendTheHeadFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{"flush", func(w http.ResponseWriter) {
			io.WriteString(w, "<html>flushed")
			w.(http.Flusher).Flush()
		}},
		{"one large write", func(w http.ResponseWriter) {
			w.Write([]byte("<html>" + strings.Repeat("x", smallBody)))
		}},
		{"small writes past the bound", func(w http.ResponseWriter) {
			io.WriteString(w, "<html>")
			for range smallBody/1000 + 1 {
				io.WriteString(w, strings.Repeat("y", 1000))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.write(w)
				<-release // the head must arrive before the handler returns
				io.WriteString(w, "tail")
			})
			wk := startWorker(t, context.Background(), h, nil, nil)
			st := wk.get(t, "/")
			resp := readHead(t, st)
			close(release)
			if cl := resp.header.Get("Content-Length"); cl != "" {
				t.Errorf("Content-Length %q on a streamed response", cl)
			}
			if ct := resp.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("sniffed Content-Type %q", ct)
			}
			body := mustBody(t, st)
			if !strings.HasPrefix(body, "<html>") || !strings.HasSuffix(body, "tail") {
				t.Errorf("body %.20q...%q", body, body[max(0, len(body)-10):])
			}
		})
	}
}

// TestSmallResponseWithTrailers: trailers go in the END of the one unit, and
// the response gets no Content-Length (HTTP/1.1 carries trailers only
// chunked); a Content-Digest trailer verifies.
func TestSmallResponseWithTrailers(t *testing.T) {
	body := []byte("a small body to digest\n")
	h := digest.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	wk, log := startLoggedWorker(t, h)
	st := wk.open(t, reqHead("GET", "/", ipc.Field{Name: digest.WantField, Value: digest.WantSHA256}), true)
	resp := readHead(t, st)
	if cl := resp.header.Get("Content-Length"); cl != "" {
		t.Errorf("Content-Length %q with a trailer", cl)
	}
	if got := mustBody(t, st); got != string(body) {
		t.Fatalf("body %q", got)
	}
	var cd string
	for _, f := range st.Trailers() {
		if f.Name == digest.Field {
			cd = f.Value
		}
	}
	if err := digest.Verify(cd, body); err != nil {
		t.Errorf("Content-Digest %q: %v", cd, err)
	}
	writes := log.withBody(body)
	if len(writes) != 1 {
		t.Fatalf("the body went out in %d writes, want 1", len(writes))
	}
	if fs := parseWire(t, writes[0]); len(fs) != 3 || fs[0].typ != wireHead || fs[1].typ != wireData || fs[2].typ != wireEnd || !bytes.Contains(fs[2].payload, []byte(digest.Field)) {
		t.Errorf("the write holds %d frames, want HEAD, DATA, END with the trailer", len(fs))
	}
}

// TestSmallHeadResponse: on a HEAD request the held bytes are sniffed and
// counted, as net/http does, and nothing follows the head.
func TestSmallHeadResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>hello</html>")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.open(t, reqHead("HEAD", "/"), true)
	resp := readHead(t, st)
	if cl := resp.header.Get("Content-Length"); cl != "18" {
		t.Errorf("Content-Length %q, want 18", cl)
	}
	if ct := resp.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("sniffed Content-Type %q", ct)
	}
	if body := mustBody(t, st); body != "" {
		t.Errorf("body %q on a HEAD request", body)
	}
}

// TestPanicAfterHeldWrite: a panic before anything left is a plain 500, as
// with no write at all: the held bytes are dropped.
func TestPanicAfterHeldWrite(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		panic("boom")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	if resp := readHead(t, st); resp.status != 500 {
		t.Errorf("status %d, want 500", resp.status)
	}
	if body := mustBody(t, st); strings.Contains(body, "partial") {
		t.Errorf("body %q carries the held bytes", body)
	}
}

// TestAbortHandlerAfterHeldWriteResetsTheStream: http.ErrAbortHandler asks
// for the response to be aborted, so bytes held back are not answered with
// a clean 500 either: the stream is reset and the parent sees a failure.
func TestAbortHandlerAfterHeldWriteResetsTheStream(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "partial")
		panic(http.ErrAbortHandler)
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	head, err := st.ReadHead(ctx)
	var se *ipc.StreamError
	if !errors.As(err, &se) || se.Code != ipc.CodeInternal {
		t.Fatalf("ReadHead: head %v, err %v; want the stream reset with INTERNAL", head, err)
	}
}

func TestStatusString(t *testing.T) {
	for _, code := range []int{100, 101, 200, 204, 404, 500, 599, 600, 999} {
		if got, want := statusString(code), strconv.Itoa(code); got != want {
			t.Fatalf("statusString(%d) = %q, want %q", code, got, want)
		}
	}
}
