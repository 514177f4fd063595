package parent

import (
	"cmp"
	"fmt"
	"net/http"
	"strconv"
)

// HeadFrameLimit is the most bytes the request head a worker receives may
// take: a HEAD frame's field block is at most 64 KiB, whatever the frame
// size (docs/PROTOCOL.md, "Frames"), and has no continuation.
const HeadFrameLimit = 64 << 10

// DefaultMaxHeaderBytes is the default MaxHeaderBytes: 32 KiB, nginx's
// large_client_header_buffers (4 of 8k), with its request line share of
// 8 KiB, one of those buffers.
const DefaultMaxHeaderBytes = 32 << 10

// MinMaxHeaderBytes is the least MaxHeaderBytes: below it a request line
// share under 1 KiB refuses ordinary URLs.
const MinMaxHeaderBytes = 4 << 10

// RequestLineShare is the part of MaxHeaderBytes a request target may
// take (MaxHeaderBytes / RequestLineShare), as nginx's request line must
// fit one of its four large header buffers.
const RequestLineShare = 4

// ServerMaxHeaderBytes is what http.Server.MaxHeaderBytes must be for
// the gateway's own limits to decide (414 or 431 after parsing, never a
// 502): net/http must read a request line of several times its share, so
// that an overlong URI is told 414 as nginx tells it, and net/http's own
// 431 (at parse time too) only meets heads of more than four times the
// limit. It stays below net/http's 1 MB default.
func ServerMaxHeaderBytes(maxHeaderBytes int) int { return RequestLineShare * maxHeaderBytes }

// checkHeadLimits answers 414 or 431 and reports false when r's head
// would not fit the limit, before any of it goes to a worker: a head
// larger than a HEAD frame can carry would otherwise fail there and look
// like a worker's failure (502), and be retried on another worker.
func (g *Gateway) checkHeadLimits(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	limit := cmp.Or(g.cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	if len(target) > limit/RequestLineShare {
		g.refuseHead(w, r, x, http.StatusRequestURITooLong, fmt.Sprintf("sluice: the request target is %d bytes; at most %d are accepted", len(target), limit/RequestLineShare))
		return false
	}
	if n := requestHeadSize(r, target); n > limit {
		g.refuseHead(w, r, x, http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("sluice: the request head is %d bytes as sent to a worker; at most %d are accepted", n, limit))
		return false
	}
	return true
}

// requestHeadSize is the size of the field block appendRequestHead builds
// for r (each field costs 6 bytes of lengths besides its name and value),
// counted without building it.
func requestHeadSize(r *http.Request, target string) int {
	const perField = 6
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	n := 6*perField + len(":method:path:authority:scheme:remote:proto") +
		len(r.Method) + len(target) + len(r.Host) + len(scheme) + len(r.RemoteAddr) + len(r.Proto)
	connection := r.Header["Connection"]
	for name, values := range r.Header {
		if isHop(name, connection) {
			continue
		}
		for _, v := range values {
			n += perField + len(name) + len(v)
		}
	}
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		n += perField + len("Content-Length") + len(strconv.FormatInt(r.ContentLength, 10))
	}
	// The fields the gateway adds (addProxyHeaders), at their longest: the
	// client's address appended to X-Forwarded-For, a request id, the
	// scheme. A client's own copies of them are counted above.
	n += 3*perField + len(headerForwardedFor) + len(r.RemoteAddr) + len(", ") +
		len(headerRequestID) + maxRequestIDLen + len(headerForwardedProto) + len("https")
	return n
}

// refuseHead answers an oversized head and closes the connection (as
// nginx does for 414 and 431): what else the client sends on it is not
// worth parsing.
func (g *Gateway) refuseHead(w http.ResponseWriter, r *http.Request, x *exchange, code int, msg string) {
	closeAfter(w, r)
	g.answer(w, r, x, code, endHeadTooLarge, msg)
}

func verifyMaxHeaderBytes(n int) error {
	if n != 0 && (n < MinMaxHeaderBytes || n > HeadFrameLimit) {
		return fmt.Errorf("parent: MaxHeaderBytes %d is out of range; use 0 (default %d) or %d..%d bytes (a HEAD frame carries at most %d)", n, DefaultMaxHeaderBytes, MinMaxHeaderBytes, HeadFrameLimit, HeadFrameLimit)
	}
	return nil
}
