package parent

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// The body limit (Config.MaxBody) is nginx's client_max_body_size: a
// request that declares a longer body is answered 413 before any of it is
// read; one whose body has no declared length (chunked) is cut where it
// passes the limit, with a 413 if no response went out yet, else by
// resetting its stream.

// limitBody applies the body limit to r. It reports false if it answered
// r with 413: its declared length is over the limit. A body without a
// declared length gets a reader that fails past the limit (and has
// net/http close the connection after the response, so the rest of the
// body is never read).
func (g *Gateway) limitBody(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	limit := g.cfg.MaxBody
	if limit <= 0 {
		return true
	}
	if r.ContentLength > limit {
		// The body stays unread: an HTTP/1.1 connection cannot carry
		// another request after it. (An HTTP/2 stream's is discarded;
		// Connection: close there would end every stream of the
		// connection with a GOAWAY.)
		closeAfter(w, r)
		g.answerTooLarge(w, r, x)
		return false
	}
	if r.ContentLength < 0 {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	return true
}

// answerTooLarge answers 413 with the limit.
func (g *Gateway) answerTooLarge(w http.ResponseWriter, r *http.Request, x *exchange) {
	x.fw.keepSendDeadline()
	g.answer(w, r, x, http.StatusRequestEntityTooLarge, endBodyTooLarge,
		"sluice: the request body is larger than the limit of "+strconv.FormatInt(g.cfg.MaxBody, 10)+" bytes (--max-body)")
	stopReading(x)
}

// stopReading ends the reading of a body over the limit: net/http, after
// the handler, reads up to 256 KiB of what is left of a body to keep the
// connection, and would wait for a client that stalls mid-upload. The
// connection closes after this response anyway.
func stopReading(x *exchange) { x.fw.rc.SetReadDeadline(time.Now()) }

// bodyTooLarge reports whether err is a body read past the limit.
func bodyTooLarge(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err) // no target to move to the heap
	return ok
}
