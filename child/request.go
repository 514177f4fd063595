package child

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sluicegw/sluice/ipc"
)

// headError is a request head that does not follow the gateway's HTTP
// mapping (docs/PROTOCOL.md); the stream is answered 400.
type headError struct{ msg string }

func (e *headError) Error() string { return "malformed request head: " + e.msg }

func badHead(format string, args ...any) error {
	return &headError{fmt.Sprintf(format, args...)}
}

// newRequest builds the request a handler sees from an accepted stream's
// head: the pseudo-fields :method, :path, :authority, :remote and :proto,
// then the headers. Its body reads the stream.
//
// ContentLength comes from the Content-Length header. Without one it is 0
// with http.NoBody when the parent's head ended the stream (a GET), and -1
// (unknown) when a body follows, as in net/http.
//
// The request body is body's storage, which the caller allocates with the
// response's (see exchange).
func newRequest(ctx context.Context, st *ipc.Stream, body *requestBody) (*http.Request, error) {
	// Built on the stack and copied once by WithContext: a request made on
	// the heap first would cost a second allocation.
	req := http.Request{
		Header:     make(http.Header),
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
	}
	var haveProto bool
	for _, f := range st.Head() {
		if !strings.HasPrefix(f.Name, ":") {
			k := http.CanonicalHeaderKey(f.Name)
			req.Header[k] = append(req.Header[k], f.Value)
			continue
		}
		switch f.Name {
		case ":method":
			req.Method = f.Value
		case ":path":
			req.RequestURI = f.Value
		case ":authority":
			req.Host = f.Value
		case ":remote":
			req.RemoteAddr = f.Value
		case ":proto":
			req.Proto, haveProto = f.Value, true
		}
		// :scheme has no place in a server's http.Request (r.TLS would
		// be a lie without the connection state), and unknown
		// pseudo-fields are ignored so that the parent may add some.
	}
	if req.Method == "" {
		return nil, badHead(":method is missing")
	}
	if !isToken(req.Method) {
		return nil, badHead(":method %q is not an HTTP token", req.Method)
	}
	if req.RequestURI == "" {
		return nil, badHead(":path is missing")
	}
	u, err := url.ParseRequestURI(req.RequestURI)
	if err != nil {
		return nil, badHead(":path %q: %v", req.RequestURI, err)
	}
	req.URL = u
	if haveProto {
		var ok bool
		if req.ProtoMajor, req.ProtoMinor, ok = http.ParseHTTPVersion(req.Proto); !ok {
			return nil, badHead(":proto %q is not an HTTP version such as HTTP/1.1", req.Proto)
		}
	}
	// As net/http does: the host lives in r.Host, not in the header.
	if req.Host == "" {
		req.Host = req.Header.Get("Host")
	}
	delete(req.Header, "Host")
	if te, ok := req.Header["Transfer-Encoding"]; ok {
		req.TransferEncoding = te
		delete(req.Header, "Transfer-Encoding")
	}
	if req.ContentLength, err = contentLength(req.Header["Content-Length"]); err != nil {
		return nil, err
	}

	r := req.WithContext(ctx)
	*body = requestBody{st: st, req: r}
	r.Body = body
	if r.ContentLength == -1 && st.PeerEnded() {
		r.ContentLength = 0
	}
	if r.ContentLength == 0 {
		r.Body = http.NoBody
	}
	return r, nil
}

// contentLength parses the Content-Length values of a request: -1 when there
// are none; repeated values must agree (RFC 9110, section 8.6).
func contentLength(values []string) (int64, error) {
	if len(values) == 0 {
		return -1, nil
	}
	for _, v := range values[1:] {
		if v != values[0] {
			return 0, badHead("conflicting Content-Length values %q", values)
		}
	}
	n, err := strconv.ParseInt(values[0], 10, 64)
	if err != nil || n < 0 {
		return 0, badHead("Content-Length %q is not a byte count", values[0])
	}
	return n, nil
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2), as
// a method must be.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// requestBody is a request's Body: the read side of its stream. It records
// whether the body was read to its end, so that what the handler left can be
// dealt with after it returns, and fills r.Trailer from the parent's END.
type requestBody struct {
	st     *ipc.Stream
	req    *http.Request
	ended  atomic.Bool // a Read returned io.EOF or an error: nothing is left to read
	closed atomic.Bool
	// left is drain's limit on what it discards, kept here so that the
	// io.LimitedReader costs no allocation of its own.
	left io.LimitedReader
}

// Read reads the request body. It returns io.EOF after a complete body and a
// *ipc.StreamError if the parent reset the stream (the client went away).
func (b *requestBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.st.Read(p)
	if err != nil {
		if err == io.EOF && !b.ended.Load() {
			b.setTrailers()
		}
		b.ended.Store(true)
	}
	return n, err
}

// Close makes further reads fail, as net/http's request bodies do. What is
// left unread is discarded after the handler returns.
func (b *requestBody) Close() error {
	b.closed.Store(true)
	return nil
}

// setTrailers copies the trailers of the parent's END into r.Trailer, which
// net/http documents as valid once the body has returned io.EOF.
func (b *requestBody) setTrailers() {
	tr := b.st.Trailers()
	if len(tr) == 0 {
		return
	}
	if b.req.Trailer == nil {
		b.req.Trailer = make(http.Header, len(tr))
	}
	for _, f := range tr {
		b.req.Trailer.Add(f.Name, f.Value)
	}
}

// maxDrain bounds the unread request body discarded after the handler
// returns (net/http's server discards up to the same 256 KiB).
const maxDrain = 256 << 10

// drain discards what the handler left of the request body, up to maxDrain
// bytes. Reading returns credit, so that a parent that sends a small body
// before it reads the response is not left blocked on credit; the stream
// then ends cleanly in both directions.
//
// It never resets the stream: it runs after the response's END is queued,
// and a RESET following an END makes the parent discard the response as
// incomplete. A body larger than the bound is left to the parent, which ends
// its side (CloseWrite or Reset) once it has the complete response.
//
// A body the parent still holds (the client asked for 100 Continue and the
// handler never read: see ipc.FieldContinue) is not drained either: reading
// it would grant the credit that makes the parent ask the client for the
// upload the handler turned down.
func (b *requestBody) drain() {
	if b.ended.Load() || b.st.BodyHeld() {
		return
	}
	// io.CopyN without its allocated LimitedReader.
	b.left = io.LimitedReader{R: b.st, N: maxDrain}
	io.Copy(io.Discard, &b.left)
	b.left.R = nil
}
