package parent

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/sluicegw/sluice/ipc"
)

// Headers the gateway sets on every request it forwards, as a reverse
// proxy in front of an application does (nginx's $request_id,
// $proxy_add_x_forwarded_for and $scheme in the usual proxy_set_header
// lines).
const (
	headerRequestID      = "X-Request-Id"
	headerForwardedFor   = "X-Forwarded-For"
	headerForwardedProto = "X-Forwarded-Proto"
)

// maxRequestIDLen bounds a client's X-Request-Id the gateway keeps: long
// enough for a UUID, a W3C trace id or a prefixed id of another proxy,
// short enough that it costs the log line little.
const maxRequestIDLen = 128

// requestID is the client's X-Request-Id if it has one that is sane (one
// value, 1..maxRequestIDLen printable ASCII bytes without spaces or
// quotes), else a new one.
func requestID(r *http.Request) string {
	if v := r.Header[headerRequestID]; len(v) == 1 && saneRequestID(v[0]) {
		return v[0]
	}
	return newRequestID()
}

func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex, as nginx's $request_id.
// math/rand/v2's global source is a per-thread ChaCha8 seeded from the
// system: no lock, no system call, and unpredictable enough that ids do
// not collide across processes or restarts (which a process prefix and a
// counter would only make likely, not certain, after a fork or restart);
// the id identifies a request, it is not a secret.
func newRequestID() string {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64())
	var out [32]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

// addProxyHeaders rewrites the forwarding headers of a request head built
// by appendRequestHead: X-Request-Id becomes id; X-Forwarded-For gets the
// client's address appended to what the client sent (the trust model of
// nginx's $proxy_add_x_forwarded_for: the gateway vouches only for the last
// hop, and a worker that trusts more must know how many proxies are in
// front); X-Forwarded-Proto is the scheme the client used, whatever it
// claimed.
//
// A client on a Unix socket (--listen unix:PATH) is a proxy on the same
// host, nginx terminating TLS in front, say: it has no address to append,
// and the scheme it forwards is the one its client used, so both headers
// pass as it sent them (the scheme is http if it sent none).
func addProxyHeaders(f ipc.Fields, r *http.Request, id string) ipc.Fields {
	var prior []string
	var priorProto string
	kept := f[:0]
	for _, fl := range f {
		switch fl.Name {
		case headerForwardedFor:
			prior = append(prior, fl.Value)
			continue
		case headerForwardedProto:
			priorProto = fl.Value
			continue
		case headerRequestID:
			continue
		}
		kept = append(kept, fl)
	}
	// What was dropped is past the end; the pooled head must not keep it.
	clear(f[len(kept):])
	f = kept
	if unixPeer(r.RemoteAddr) {
		if len(prior) > 0 {
			f = append(f, ipc.Field{Name: headerForwardedFor, Value: strings.Join(prior, ", ")})
		}
		return append(f,
			ipc.Field{Name: headerRequestID, Value: id},
			ipc.Field{Name: headerForwardedProto, Value: cmp.Or(priorProto, "http")},
		)
	}
	client := clientHost(r.RemoteAddr)
	xff := client
	if len(prior) > 0 {
		n := len(client)
		for _, p := range prior {
			n += len(p) + 2
		}
		b := make([]byte, 0, n)
		for _, p := range prior {
			b = append(b, p...)
			b = append(b, ", "...)
		}
		xff = string(append(b, client...))
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	return append(f,
		ipc.Field{Name: headerRequestID, Value: id},
		ipc.Field{Name: headerForwardedFor, Value: xff},
		ipc.Field{Name: headerForwardedProto, Value: proto},
	)
}

// unixPeer reports whether a request's RemoteAddr is that of a Unix socket
// peer: net/http gives "@" (an unnamed socket) or the empty string.
func unixPeer(remoteAddr string) bool { return remoteAddr == "@" || remoteAddr == "" }
