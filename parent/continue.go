package parent

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"github.com/sluicegw/sluice/ipc"
)

// Expect: 100-continue. net/http answers a client that asked for it 100
// Continue at the first read of the request body, so a gateway that reads
// the body as it dispatches asks for every upload, even one the handler
// then refuses (401, 413) without reading. The gateway instead holds such
// a body on a worker that speaks protocol version 2: the stream opens with
// ipc.FieldContinue, and the body sender reads the client's body only once
// the worker's handler has started reading it (its first grant of credit,
// ipc.Stream.AwaitCredit). A worker that answers first leaves the body
// unread: the client gets the final response without any 100, and an
// HTTP/1.1 connection closes after it. Requests without the expectation
// are untouched, and so are version 1 workers (their stream carries the
// body at once, as before).

// expectsContinue reports whether net/http will send r's client 100
// Continue at the first read of r's body; r has a body (hasBody). It must
// look at the body net/http made, before any wrapper.
func expectsContinue(r *http.Request) bool {
	if r.ProtoMajor == 1 {
		// net/http's own condition (an HTTP/1.0 client gets no 100).
		return r.ProtoAtLeast(1, 1) && httpguts.HeaderValuesContainsToken(r.Header["Expect"], "100-continue")
	}
	return h2NeedsContinue(r.Body)
}

// h2NeedsContinue reports whether an HTTP/2 request body of net/http's
// will send 100 Continue at its first read. net/http's HTTP/2 server
// removes the Expect header before the handler runs and keeps the fact in
// the body's unexported needsContinue, which nothing exported tells: it is
// read by reflection, and anything else (another server, a later net/http
// without the field) reads as no expectation, the behaviour from before.
// The field's place is looked up once per body type (the look-up
// allocates), so that a request pays no allocation for it.
func h2NeedsContinue(body io.ReadCloser) bool {
	v := reflect.ValueOf(body)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	e := v.Elem()
	if e.Kind() != reflect.Struct || e.Type().PkgPath() != "net/http" {
		return false
	}
	at := h2ContinueField.Load()
	if at == nil || at.typ != e.Type() {
		f, ok := e.Type().FieldByName("needsContinue")
		if !ok || f.Type.Kind() != reflect.Bool || len(f.Index) != 1 {
			return false
		}
		at = &fieldAt{typ: e.Type(), index: f.Index[0]}
		h2ContinueField.Store(at)
	}
	return e.Field(at.index).Bool()
}

// fieldAt is where a struct type keeps a field.
type fieldAt struct {
	typ   reflect.Type
	index int
}

// h2ContinueField is where net/http's HTTP/2 request body keeps
// needsContinue, once a request found it.
var h2ContinueField atomic.Pointer[fieldAt]

// appendContinue adds ipc.FieldContinue to an attempt's request head when
// its body is to be held on worker b: the client expects 100 Continue and
// b speaks a protocol version with held bodies.
func appendContinue(head ipc.Fields, x *exchange, b *backend) ipc.Fields {
	if !x.expect || b.conn.Version() < 2 {
		return head
	}
	return append(head, ipc.Field{Name: ipc.FieldContinue, Value: "100-continue"})
}

// How far the attempts got with the client's body (exchange.bodyState).
// The sender and the end of an attempt race to move it from bodyUntouched:
// whichever wins says whether the body was touched, so that an attempt
// that ends before its sender starts leaves the body whole for the next
// (over HTTP/2, interrupting a read closes the body for good).
const (
	bodyUntouched int32 = iota // not read, nor being read
	bodyReading                // a sender reads it
	bodyAbandoned              // the attempt ended before its sender began
	bodyReadAll                // read to its end: none of it is left unread
)

// sendRequestBody is an attempt's body sender: it sends the body held in
// memory, or streams the client's, once the worker asks for it if the body
// is held (x.expect). x.bodyState says whether it touched the client's
// body; its read's error goes to x.bodyErr.
func sendRequestBody(ctx context.Context, st *ipc.Stream, r *http.Request, x *exchange, held []byte) {
	if held != nil {
		sendHeld(st, held)
		return
	}
	if x.expect && st.AwaitCredit(ctx) != nil {
		// The worker answered (and the stream was reset) or the attempt
		// failed before the handler read: the client was never asked
		// for its body.
		return
	}
	if !x.bodyState.CompareAndSwap(bodyUntouched, bodyReading) {
		return // the attempt is over
	}
	_, err := sendBody(st, x.watch.bodyReader(r.Body), func() { x.bodyState.Store(bodyReadAll) })
	x.bodyErr = err
}

// bodyLeft says, at the end of an attempt, how its body sender left the
// client's body: cut, part-read by a sender still reading it or one that
// gave up before its end (its write failed on the stream the worker had
// answered), so that the rest is still on the connection; or abandoned,
// never touched by a sender that has not begun, which it marks so that the
// sender never will. A held body (in memory, not the client's any more)
// is neither, nor is one read to its end.
func (x *exchange) bodyLeft(held, senderDone bool) (cut, abandoned bool) {
	if held {
		return false, false
	}
	if !senderDone {
		abandoned = x.bodyState.CompareAndSwap(bodyUntouched, bodyAbandoned)
	}
	return !abandoned && x.bodyState.Load() == bodyReading, abandoned
}

// unreadContinue reports whether the client's body was never asked for
// (it expected 100 Continue and no handler has read it so far): the
// request may go to another worker as if it had no body.
func unreadContinue(x *exchange) bool {
	if !x.expect {
		return false
	}
	s := x.bodyState.Load()
	return s == bodyUntouched || s == bodyAbandoned
}

// closeIfUnread ends an HTTP/1.1 connection after this response if the
// body the client offered is still unread, saying so in the response head
// when it is not out yet: the bytes that follow on the connection may be
// that body (a client may send it without waiting), which must never be
// read as the next request. net/http would see to it itself, but not once
// the gateway has wrapped the request's body (the body timeout, the size
// limit), which hides it from net/http's own check.
func closeIfUnread(w http.ResponseWriter, r *http.Request, x *exchange) {
	if r.ProtoMajor == 1 && unreadContinue(x) {
		closeConnAfter(w)
	}
}

// finishContinue, at the end of the exchange, counts a request that
// expected 100 Continue, and closes the connection after a body nobody
// asked the client for, whatever answered (the worker, or the gateway
// itself with a 502 or a timeout), and stops net/http from reading it:
// after the handler it would wait, for up to 256 KiB, on a client that
// waits for a 100 Continue that never comes.
func (g *Gateway) finishContinue(w http.ResponseWriter, r *http.Request, x *exchange) {
	if !x.expect {
		return
	}
	unread := unreadContinue(x)
	g.metrics.continues[b2i(unread)].Inc()
	if r.ProtoMajor == 1 && unread {
		closeConnAfter(w)
		stopReading(x)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// registerContinue makes and registers the counters of requests that
// expected 100 Continue.
func (m *metrics) registerContinue() {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_http_expect_continue_total",
		Help: `Requests whose client waited for 100 Continue before its body, by body: "asked" (a handler read it, or the worker speaks only protocol version 1) or "unasked" (answered without the body ever being asked for).`,
	}, []string{"body"})
	m.continues[0] = vec.WithLabelValues("asked")
	m.continues[1] = vec.WithLabelValues("unasked")
	m.reg.MustRegister(vec)
}
