package parent

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
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

// TestSendBodyReadsTrickleIntoSmallBuffer: sendBody offers a request
// body's read a 4 KiB buffer until a read fills one, a 64 KiB buffer while
// reads return as much, and the small one again after a short read, so that
// an upload trickling in holds 4 KiB during its blocked reads; every byte
// reaches the worker.
func TestSendBodyReadsTrickleIntoSmallBuffer(t *testing.T) {
	conn := gwChildConn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		io.WriteString(w, strconv.FormatInt(n, 10))
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := conn.OpenStream(ctx, fuzzFields(":method", "POST", ":path", "/upload", ":authority", "svc.test"), false)
	if err != nil {
		t.Fatal(err)
	}
	body := &scriptedBody{script: []int{100, 4096, 10000, 100, 50}}
	readAll, err := sendBody(st, body)
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
