package parent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// scriptedBody returns, at its i-th read, at most script[i] bytes, then
// io.EOF; it records the size of the buffer each read was offered.
type scriptedBody struct {
	script  []int
	offered []int
}

func (b *scriptedBody) Read(p []byte) (int, error) {
	b.offered = append(b.offered, len(p))
	if len(b.offered) > len(b.script) {
		return 0, io.EOF
	}
	return len(p[:min(len(p), b.script[len(b.offered)-1])]), nil
}

// uploadStreams starts a worker that answers each upload with the count of
// its body bytes, and returns a context for the test and a func that opens
// a POST stream to it.
func uploadStreams(t *testing.T) (context.Context, func() *ipc.Stream) {
	conn := gwChildConn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		io.WriteString(w, strconv.FormatInt(n, 10))
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx, func() *ipc.Stream {
		st, err := conn.OpenStream(ctx, fuzzFields(":method", "POST", ":path", "/upload", ":authority", "svc.test"), false)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

// TestSendBodyReadsTrickleIntoSmallBuffer: sendBody offers a request
// body's read a 4 KiB buffer until a read fills one, a 64 KiB buffer while
// reads return as much, and the small one again after a short read, so that
// an upload trickling in holds 4 KiB during its blocked reads; every byte
// reaches the worker.
func TestSendBodyReadsTrickleIntoSmallBuffer(t *testing.T) {
	ctx, open := uploadStreams(t)
	st := open()
	body := &scriptedBody{script: []int{100, 4096, 10000, 100, 50}}
	readAll, err := sendBody(st, body, nil)
	if !readAll || err != nil {
		t.Fatalf("sendBody = %v, %v; want true, nil", readAll, err)
	}
	small, large := bodyReadBufferSize, smallCopyBufferSize
	if want := []int{small, small, large, large, small, small}; !slices.Equal(body.offered, want) {
		t.Fatalf("buffer sizes offered to the body's reads = %v; want %v", body.offered, want)
	}
	if _, err := st.ReadHead(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(st)
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(100 + 4096 + 10000 + 100 + 50); string(got) != want {
		t.Fatalf("the worker read %s body bytes; want %s", got, want)
	}
}

// TestSendBodyRunsAtEndBeforeTheEnd: atEnd runs once the body is read to
// its end and before the stream's end goes out, so that the worker, which
// may answer as soon as it has the end, cannot be answered while the
// exchange still counts the body as being read: the gateway then took the
// body for cut and closed the connection after a complete upload.
func TestSendBodyRunsAtEndBeforeTheEnd(t *testing.T) {
	_, open := uploadStreams(t)
	st := open()
	calls := 0
	readAll, err := sendBody(st, &scriptedBody{script: []int{10}}, func() {
		calls++
		if st.EndQueued() {
			t.Error("atEnd ran after the stream's end was queued")
		}
	})
	if !readAll || err != nil || calls != 1 || !st.EndQueued() {
		t.Fatalf("sendBody = %v, %v, atEnd called %d times, end queued %v; want true, nil, once, true", readAll, err, calls, st.EndQueued())
	}
	// A body that fails calls no atEnd.
	if readAll, _ := sendBody(open(), iotest.ErrReader(io.ErrUnexpectedEOF), func() { calls++ }); readAll || calls != 1 {
		t.Errorf("a failing body: readAll %v, atEnd called %d times in all; want false, still once", readAll, calls)
	}
}

// TestSendRequestBodyReadAllBeforeTheLastBytes: a worker that stops reading
// at the Content-Length, and so may answer before the stream's end, already
// finds the exchange's body read to its end when it has the last bytes,
// even when they came with the body's EOF. (It cannot force the sender to
// stall between its last write and the record, so a record made just after
// the write would usually pass too; TestSendBodyRunsAtEndBeforeTheEnd pins
// the order against the stream's end.)
func TestSendRequestBodyReadAllBeforeTheLastBytes(t *testing.T) {
	x := new(exchange)
	seen := make(chan int32, 1)
	conn := gwChildConn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadFull(r.Body, make([]byte, 5))
		seen <- x.bodyState.Load()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := conn.OpenStream(ctx, fuzzFields(":method", "POST", ":path", "/upload", ":authority", "svc.test"), false)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/upload", iotest.DataErrReader(strings.NewReader("hello")))
	sendRequestBody(ctx, st, r, x, nil)
	select {
	case s := <-seen:
		if s != bodyReadAll {
			t.Errorf("the body's state when the worker had its last bytes: %d; want bodyReadAll (%d)", s, bodyReadAll)
		}
	case <-ctx.Done():
		t.Fatal("the worker did not read the body within 10 s")
	}
}
