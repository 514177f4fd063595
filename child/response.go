package child

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sluicegw/sluice/ipc"
)

// response is the http.ResponseWriter over a stream. It behaves as
// net/http's does where the difference would show: the first bytes are held
// back (up to smallBody) so that a Content-Type can be sniffed from them and,
// if the handler returns before a Flush with no more than that, the response
// gets a Content-Length; header changes after WriteHeader are ignored except
// for trailers; and a declared Content-Length is enforced.
//
// A response that ends within the first smallBody bytes goes to the stream
// whole (Stream.WriteResponse), so the connection's writer sends its HEAD,
// DATA and END in one writev. Past that bound, or at a Flush, the head and
// the held bytes go out, and later bytes are queued at once for the
// connection's writer; Write blocks only while the stream's queue or the
// worker's budget is full.
type response struct {
	st  *ipc.Stream
	req *http.Request
	log *slog.Logger

	header http.Header // what the handler sees and changes

	status   int         // 0 until WriteHeader
	snap     http.Header // header as of WriteHeader: what the head carries
	clen     int64       // the declared Content-Length, or -1
	written  int64       // body bytes the handler wrote
	headSent bool        // the head was handed to the stream (or that failed)
	headErr  error       // why handing the head over failed
	ended    bool        // the response is complete on the stream (END_STREAM or WriteResponse)
	// snapStore is snap's storage, from headerSnaps (see snapshot).
	snapStore *headerSnap
	// writeFailed is set once a body write to the stream failed: the
	// stream was reset or its connection died.
	writeFailed bool
	// held is the body written before the head went out, at most
	// smallBody bytes (on a HEAD request too: they are only sniffed and
	// counted there). Its storage comes from heldBufs.
	held *[]byte
	// probe, if not nil, measures the handler's CPU, which the END then
	// reports to the parent (cpuprobe_linux.go).
	probe *cpuProbe
}

// smallBody bounds the body a response holds back before its head goes out.
// A response that fits is sent whole, with a Content-Length, in one frame
// batch. net/http computes a length only for a body within its 2 KiB
// chunking buffer (and holds 4 KiB more in its connection's); sluice holds
// more because a response sent whole saves the writer the wake-ups and
// syscalls of three separate pushes, which cost more than copying 16 KiB
// into a pooled buffer, and because the parent can then relay it with a
// length instead of chunked. Larger would delay the first bytes of handlers
// that stream without flushing, and raise what each in-flight small
// response keeps outside the send budget.
const smallBody = 16 << 10

var heldBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, smallBody)
	return &b
}}

// exchange is what a request needs beyond its http.Request, in one
// allocation: the response writer and the request body live as long as
// each other.
type exchange struct {
	w    response
	body requestBody
}

// initResponse makes x.w the response to req on st.
func (x *exchange) initResponse(st *ipc.Stream, req *http.Request, log *slog.Logger) *response {
	x.w = response{st: st, req: req, log: log, header: make(http.Header), clen: -1}
	return &x.w
}

// heldBytes is the body held back so far.
func (w *response) heldBytes() []byte {
	if w.held == nil {
		return nil
	}
	return *w.held
}

// releaseHeld returns the held body's storage to the pool.
func (w *response) releaseHeld() {
	if w.held != nil {
		*w.held = (*w.held)[:0]
		heldBufs.Put(w.held)
		w.held = nil
	}
}

// Header returns the header the response will carry.
func (w *response) Header() http.Header { return w.header }

// WriteHeader records the status and a snapshot of the header; the head
// goes out at the first Flush, once the body outgrows smallBody, or when the
// handler returns.
// Informational statuses (1xx) are not relayed, and 101 Switching Protocols
// is answered 500: a stream cannot be taken over.
func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.status != 0 {
		w.log.Warn("sluice worker: superfluous WriteHeader call; the first status stands",
			"status", w.status, "ignored", code, "method", w.req.Method, "path", w.req.URL.Path)
		return
	}
	if code < 200 {
		if code != http.StatusSwitchingProtocols {
			return
		}
		w.log.Error("sluice worker: a handler asked for 101 Switching Protocols, which a sluice stream cannot carry; answering 500",
			"method", w.req.Method, "path", w.req.URL.Path)
		code = http.StatusInternalServerError
	}
	w.status = code
	w.snapshot()
	if v := w.snap.Get("Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			w.log.Warn("sluice worker: the handler set an invalid Content-Length; it is dropped",
				"content_length", v, "method", w.req.Method, "path", w.req.URL.Path)
			w.snap.Del("Content-Length")
		} else {
			w.clen = n
		}
	}
}

// headerSnap is the storage of a response's header snapshot: the map and
// one array for every value, as http.Header.Clone makes them. The snapshot
// never reaches the handler and is done with once the head went out, so
// its storage is reused rather than made for every response.
type headerSnap struct {
	h    http.Header
	vals []string
}

var headerSnaps = sync.Pool{New: func() any { return &headerSnap{h: make(http.Header, headBufFields)} }}

// maxSnapFields bounds the snapshots kept for reuse, so that a rare large
// header does not stay pinned in the pool.
const maxSnapFields = 4 * headBufFields

// snapshot makes snap a copy of the header, as Clone would, in storage
// from headerSnaps.
func (w *response) snapshot() {
	s := headerSnaps.Get().(*headerSnap)
	n := 0
	for _, vv := range w.header {
		n += len(vv)
	}
	if cap(s.vals) < n {
		s.vals = make([]string, 0, n)
	}
	vals := s.vals[:0]
	for k, vv := range w.header {
		if vv == nil {
			// Kept as nil, as Clone keeps it.
			s.h[k] = nil
			continue
		}
		at := len(vals)
		vals = append(vals, vv...)
		// Capped, so that an append to one value (Add) cannot overwrite
		// the next name's.
		s.h[k] = vals[at:len(vals):len(vals)]
	}
	s.vals = vals
	w.snap, w.snapStore = s.h, s
}

// releaseSnap returns the snapshot's storage for reuse once the head has
// gone out; nothing reads the snapshot after that but the end of the
// response (its trailers), which the caller has sent. A head that never
// went out leaves the storage to the collector: a goroutine the handler
// left behind could still write one.
func (w *response) releaseSnap() {
	s := w.snapStore
	if s == nil || !w.headSent {
		return
	}
	w.snap, w.snapStore = nil, nil
	if len(s.h) > maxSnapFields || cap(s.vals) > maxSnapFields {
		return
	}
	clear(s.h)
	clear(s.vals)
	s.vals = s.vals[:0]
	headerSnaps.Put(s)
}

// Write adds p to the body: held back while the body still fits smallBody
// and no Flush came, else sent after the head. It returns
// http.ErrContentLength, writing nothing, if p would exceed the declared
// Content-Length. On a HEAD request, the bytes are counted but not sent.
func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.clen >= 0 && w.written+int64(len(p)) > w.clen {
		return 0, http.ErrContentLength
	}
	if !w.headSent {
		if len(w.heldBytes())+len(p) <= smallBody {
			if w.held == nil {
				w.held = heldBufs.Get().(*[]byte)
			}
			*w.held = append(*w.held, p...)
			w.written += int64(len(p))
			return len(p), nil
		}
		if err := w.spill(p); err != nil {
			return 0, err
		}
	}
	if w.req.Method == http.MethodHead {
		w.written += int64(len(p))
		return len(p), nil
	}
	n, err := w.st.Write(p)
	w.written += int64(n)
	if err != nil {
		w.writeFailed = true
	}
	return n, err
}

// WriteString is Write for a string, as io.StringWriter.
func (w *response) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// Flush sends the head, and any body bytes held back, if they have not gone
// yet. The first 16 KiB of a body are held (as net/http's own buffer does)
// so that a small response can go whole with a Content-Length; after a
// Flush, or beyond them, bytes are queued for the socket as soon as they
// are written. A handler that writes a prompt and then waits for the
// client must Flush, as with net/http.
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush that reports why the head could not be sent; it is
// what http.ResponseController.Flush calls.
func (w *response) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.headSent {
		return w.headErr
	}
	return w.spill(nil)
}

// spill sends the head, sniffing from the held bytes and then next (the
// bytes about to be written), and queues the held bytes behind it: from now
// on the response streams.
func (w *response) spill(next []byte) error {
	held := w.heldBytes()
	sniff := held
	if len(sniff) < sniffLen && len(next) > 0 {
		// Into the spare capacity: held itself keeps its length.
		sniff = append(sniff, next[:min(len(next), sniffLen-len(sniff))]...)
	}
	err := w.sendHead(sniff, false)
	if err == nil && len(held) > 0 && w.req.Method != http.MethodHead {
		if _, err = w.st.Write(held); err != nil {
			w.writeFailed = true // as for any body write: finish must not blame the handler
		}
	}
	w.releaseHeld()
	return err
}

// sniffLen is how many bytes http.DetectContentType looks at.
const sniffLen = 512

// EnableFullDuplex reports success: a stream always lets the handler read
// the request body while it writes the response.
func (w *response) EnableFullDuplex() error { return nil }

// sendHead hands the response head to the stream, once. p is the first body
// chunk, for sniffing a missing Content-Type. final means the handler has
// returned without a body or trailers: the head is the whole response, so it
// gets a Content-Length of 0 and END_STREAM.
func (w *response) sendHead(p []byte, final bool) error {
	if w.headSent {
		return w.headErr
	}
	w.headSent = true
	if final && bodyAllowed(w.status) && w.req.Method != http.MethodHead && w.snap.Get("Content-Length") == "" {
		w.snap.Set("Content-Length", "0")
	}
	var buf headBuf
	w.headErr = w.st.WriteHead(w.headFields(&buf, p), final)
	w.ended = final && w.headErr == nil
	w.logHeadErr()
	return w.headErr
}

// logHeadErr logs why the head could not be sent, unless the stream is
// gone (a reset or a dead connection) and that is why.
func (w *response) logHeadErr() {
	if w.headErr != nil && w.st.Context().Err() == nil {
		// The head itself was refused (too large for a frame). finish
		// resets the stream.
		w.log.Error("sluice worker: cannot send the response head; the stream will be reset",
			"err", w.headErr, "method", w.req.Method, "path", w.req.URL.Path)
	}
}

// sendWhole hands the complete response to the stream in one call: the
// handler returned without a Flush and the body is held. It gets a
// Content-Length unless it has trailers (which HTTP/1.1 can only carry
// chunked), as net/http gives a body that fit its buffer. It reports false
// if the stream refused it without sending anything (a head or trailers too
// large for a frame): the caller then sends it piecewise, which fails where
// it would have and says so.
//
// report is the probe's report, sent with the trailers (a pseudo-field that
// the parent keeps to itself, so it does not make the response one with
// trailers).
func (w *response) sendWhole(trailers, report ipc.Fields) bool {
	held := w.heldBytes()
	declared := len(w.snap["Trailer"]) > 0 || len(trailers) > 0
	if bodyAllowed(w.status) && !declared && w.snap.Get("Content-Length") == "" &&
		(w.req.Method != http.MethodHead || len(held) > 0) {
		w.snap.Set("Content-Length", strconv.Itoa(len(held)))
	}
	body := held
	if w.req.Method == http.MethodHead {
		body = nil
	}
	var buf headBuf
	err := w.st.WriteResponse(w.headFields(&buf, held), body, withReport(trailers, report))
	if err != nil && w.st.Context().Err() == nil {
		return false
	}
	w.headSent, w.headErr, w.ended = true, err, err == nil
	w.releaseHeld()
	return true
}

// headBufFields is how many fields a response head is built in without an
// allocation: the status and a usual handler's headers.
const headBufFields = 16

// headBuf is the storage headFields builds a head in, on its caller's
// stack: the stream encodes the head at once and keeps none of it.
type headBuf struct {
	fields [headBufFields]ipc.Field
	keys   [headBufFields]string
}

// headFields is the response head: the status and the header as of
// WriteHeader, with a Content-Type sniffed from p if there is none. It is
// built in buf while it fits.
func (w *response) headFields(buf *headBuf, p []byte) ipc.Fields {
	h := w.snap
	if _, ok := h["Content-Type"]; !ok && len(p) > 0 && bodyAllowed(w.status) && h.Get("Content-Encoding") == "" {
		h.Set("Content-Type", http.DetectContentType(p))
	}
	head := append(buf.fields[:0], ipc.Field{Name: ":status", Value: statusString(w.status)})
	for _, k := range appendSortedKeys(buf.keys[:0], h) {
		if strings.HasPrefix(k, http.TrailerPrefix) || connectionHeader(k) {
			continue
		}
		for _, v := range h[k] {
			head = append(head, ipc.Field{Name: k, Value: v})
		}
	}
	return head
}

// connectionHeader reports the headers that describe one HTTP/1 connection
// and mean nothing on a stream; HTTP/2 servers drop them the same way.
func connectionHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// bodyAllowed reports whether a status may carry a body (RFC 9110).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// finish ends the response after the handler returned: END with OK and the
// trailers, or with INTERNAL if fewer bytes than the declared Content-Length
// were written, so that the parent aborts the client's response rather than
// pass it off as complete.
func (w *response) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	trailers := w.trailers()
	report := w.probe.report()
	short := w.clen >= 0 && w.written < w.clen && w.req.Method != http.MethodHead && bodyAllowed(w.status)
	if !w.headSent && !short && w.sendWhole(trailers, report) {
		if w.headErr != nil {
			// The stream failed under it; a no-op if it is gone.
			w.st.Reset(ipc.CodeInternal)
		}
		return
	}
	if !w.headSent {
		if len(w.heldBytes()) == 0 {
			w.sendHead(nil, len(trailers) == 0 && len(report) == 0 && !short)
		} else {
			w.spill(nil)
		}
	}
	switch {
	case w.ended:
		return
	case w.headErr != nil:
		// The parent never got a head; the reset tells it the stream
		// failed (a no-op if the stream is already gone).
		w.st.Reset(ipc.CodeInternal)
		return
	}
	code := ipc.CodeOK
	if short && (w.writeFailed || w.st.Context().Err() != nil) {
		// The stream ended under the handler: the gateway reset it (the
		// client went away, the request timed out) or the connection
		// died, and the handler's writes failed for that. Not the
		// handler's fault, and nothing more can be sent. (A write can
		// fail before the stream's context is cancelled: both follow
		// the reset, in either order.)
		w.log.Debug("sluice worker: the stream ended before the response was complete (the client went away, or the gateway cut it)",
			"cause", context.Cause(w.st.Context()), "wrote", w.written, "content_length", w.clen, "method", w.req.Method, "path", w.req.URL.Path)
		return
	}
	if short {
		w.log.Error("sluice worker: the handler wrote fewer bytes than its Content-Length; the response is ended as incomplete",
			"wrote", w.written, "content_length", w.clen, "method", w.req.Method, "path", w.req.URL.Path)
		code, trailers, report = ipc.CodeInternal, nil, nil
	}
	trailers = withReport(trailers, report)
	if err := w.st.End(code, trailers); err != nil && trailers != nil {
		// If the stream is gone this fails too; if not, the trailers were
		// too large for a frame, and the response cannot be complete.
		if w.st.End(ipc.CodeInternal, nil) == nil {
			w.log.Error("sluice worker: cannot send the trailers; the response is ended as incomplete",
				"err", err, "method", w.req.Method, "path", w.req.URL.Path)
		}
	}
}

// withReport is the END's fields: the trailers, then the CPU report.
func withReport(trailers, report ipc.Fields) ipc.Fields {
	if len(report) == 0 {
		return trailers
	}
	return append(trailers[:len(trailers):len(trailers)], report...)
}

// abort ends the response of a handler that panicked: a plain 500 if no head
// went out yet, else an END with INTERNAL so that the parent aborts what the
// client received so far. A handler that panics with http.ErrAbortHandler
// asks for the response to be aborted, not answered (net/http sends
// nothing; httputil.ReverseProxy does it when its upstream fails midway):
// once it wrote body bytes that are still held back, its stream is reset
// rather than answered 500, and the parent answers 502, as it would have
// cut the response had those bytes gone out.
func (w *response) abort(abortHandler bool) {
	w.releaseHeld()
	switch {
	case !w.headSent && abortHandler && w.written > 0:
		w.st.Reset(ipc.CodeInternal)
	case !w.headSent:
		respondError(w.st, http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError))
	case w.ended:
	case w.headErr != nil:
		w.st.Reset(ipc.CodeInternal)
	default:
		w.st.End(ipc.CodeInternal, nil)
	}
}

// trailers collects the response's trailers from the live header: the keys
// declared in the Trailer header at WriteHeader, and keys prefixed with
// http.TrailerPrefix (whose prefix is removed), as net/http does.
func (w *response) trailers() ipc.Fields {
	if !w.mayHaveTrailers() {
		return nil
	}
	var f ipc.Fields
	seen := map[string]bool{}
	for _, v := range w.snap["Trailer"] {
		for name := range strings.SplitSeq(v, ",") {
			k := http.CanonicalHeaderKey(strings.TrimSpace(name))
			if k == "" || seen[k] {
				continue
			}
			seen[k] = true
			for _, val := range w.header[k] {
				f = append(f, ipc.Field{Name: k, Value: val})
			}
		}
	}
	for _, k := range sortedKeys(w.header) {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok || name == "" {
			continue
		}
		for _, val := range w.header[k] {
			f = append(f, ipc.Field{Name: http.CanonicalHeaderKey(name), Value: val})
		}
	}
	return f
}

// respondError answers a stream with a complete plain-text error response,
// as http.Error does.
func respondError(st *ipc.Stream, code int, msg string) error {
	body := msg + "\n"
	head := ipc.Fields{
		{Name: ":status", Value: strconv.Itoa(code)},
		{Name: "Content-Length", Value: strconv.Itoa(len(body))},
		{Name: "Content-Type", Value: "text/plain; charset=utf-8"},
		{Name: "X-Content-Type-Options", Value: "nosniff"},
	}
	if err := st.WriteHead(head, false); err != nil {
		return err
	}
	if _, err := st.Write([]byte(body)); err != nil {
		return err
	}
	return st.End(ipc.CodeOK, nil)
}

// mayHaveTrailers reports whether trailers has anything to look for: most
// responses declare none, and then cost no allocation here.
func (w *response) mayHaveTrailers() bool {
	if len(w.snap["Trailer"]) > 0 {
		return true
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// statusStrings holds the decimal text of the statuses 100 to 599, made
// once: strconv.Itoa allocates for every number from 100 up.
var statusStrings = func() (t [500]string) {
	for i := range t {
		t[i] = strconv.Itoa(100 + i)
	}
	return t
}()

// statusString is strconv.Itoa(code) without an allocation for the usual
// statuses.
func statusString(code int) string {
	if code >= 100 && code < 600 {
		return statusStrings[code-100]
	}
	return strconv.Itoa(code)
}

// sortedKeys returns h's keys in order, in one allocation.
func sortedKeys(h http.Header) []string {
	return appendSortedKeys(make([]string, 0, len(h)), h)
}

// appendSortedKeys appends h's keys to keys and sorts them.
func appendSortedKeys(keys []string, h http.Header) []string {
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
