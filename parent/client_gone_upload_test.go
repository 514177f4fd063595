package parent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// leavingBody is a client that goes away mid-upload as net/http reports
// it: the request's context ends inside the body's read, which returns
// only after that. Here it leaves once the worker's handler has started,
// and its read returns once the handler has seen its stream reset, so
// that the gateway has reacted to the context before the read fails.
type leavingBody struct {
	r             io.Reader
	cancel        context.CancelFunc
	started, seen <-chan struct{}
}

func (b *leavingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != io.EOF {
		return n, err
	}
	for _, ch := range []<-chan struct{}{b.started, b.seen} {
		select {
		case <-ch:
		case <-time.After(gwWait):
		}
		b.cancel()
	}
	return n, io.ErrUnexpectedEOF
}

func (b *leavingBody) Close() error { return nil }

// TestClientGoneMidUploadIs499: a client that leaves while its body is
// streaming to the worker, before any response, is logged as gone (499,
// client_gone), not as a worker failure (502, worker_lost): the gateway
// interrupted nothing, the client did.
func TestClientGoneMidUploadIs499(t *testing.T) {
	e, lines := gwAccess(t, Config{})
	started, seen := make(chan struct{}), make(chan struct{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // the gateway reset the stream
		close(seen)
	}), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest(http.MethodPost, "/up", nil).WithContext(ctx)
	req.Body = &leavingBody{r: strings.NewReader(strings.Repeat("a", 100<<10)), cancel: cancel, started: started, seen: seen}
	req.ContentLength = 1 << 20 // more than comes: streamed, not held for a retry
	rec := httptest.NewRecorder()
	func() {
		defer func() { recover() }() // the abort of an exchange whose client left
		e.g.ServeHTTP(rec, req)
	}()
	if got := accessLines(t, lines, 1)[0]; got["status"] != float64(statusClientClosed) || got["end"] != "client_gone" {
		t.Errorf("access log %v (response %d %q); want status 499, end client_gone", got, rec.Code, rec.Body)
	}
}
