package parent

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/ipc"
)

// hopHeaders are meaningful only for one connection and are not forwarded
// (RFC 9110 section 7.6.1), as net/http/httputil.ReverseProxy does.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// isHop reports whether a header is hop-by-hop: a standard one, or one
// named in the message's Connection values.
func isHop(name string, connection []string) bool {
	for _, x := range hopHeaders {
		if strings.EqualFold(name, x) {
			return true
		}
	}
	for _, v := range connection {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// requestHead maps an HTTP request to a stream head (docs/PROTOCOL.md).
func requestHead(r *http.Request) ipc.Fields { return appendRequestHead(nil, r) }

// appendRequestHead is requestHead appending to f, so that the gateway can
// reuse one slice per request.
func appendRequestHead(f ipc.Fields, r *http.Request) ipc.Fields {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// A server's request carries its target as received; only a request
	// built by hand (a test, an embedder) needs it rebuilt from the URL.
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	f = append(f,
		ipc.Field{Name: ":method", Value: r.Method},
		ipc.Field{Name: ":path", Value: target},
		ipc.Field{Name: ":authority", Value: r.Host},
		ipc.Field{Name: ":scheme", Value: scheme},
		ipc.Field{Name: ":remote", Value: r.RemoteAddr},
		ipc.Field{Name: ":proto", Value: r.Proto},
	)
	connection := r.Header["Connection"]
	sentLength := false
	for name, values := range r.Header {
		if isHop(name, connection) {
			continue
		}
		if name == "Content-Length" {
			// As net/http read it, in one canonical field: "00", or the
			// same length twice, must not reach the worker as it came.
			sentLength = true
			continue
		}
		for _, v := range values {
			f = append(f, ipc.Field{Name: name, Value: v})
		}
	}
	if r.ContentLength > 0 || sentLength && r.ContentLength == 0 {
		f = append(f, ipc.Field{Name: "Content-Length", Value: strconv.FormatInt(r.ContentLength, 10)})
	}
	return f
}

// hasBody reports whether a request body follows its head.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// parseResponseHead turns a stream head into a status and the client's
// response headers, in a fresh header.
func parseResponseHead(head ipc.Fields) (int, http.Header, error) {
	dst := http.Header{}
	status, err := relayResponseHead(head, dst)
	if err != nil {
		return 0, nil, err
	}
	return status, dst, nil
}

// relayResponseHead checks a stream head and copies its headers into dst,
// replacing what dst had under their names, and returns its status. A bad
// head copies nothing, so that it leaves nothing behind in the 502 that
// replaces it. The values share one allocation rather than one per name.
func relayResponseHead(head ipc.Fields, dst http.Header) (int, error) {
	status := 0
	var connection []string
	kept := 0
	for _, f := range head {
		switch {
		case f.Name == ":status":
			// 1xx are not final: relaying one as the status would turn
			// the real answer into an implicit 200.
			n, err := strconv.Atoi(f.Value)
			if err != nil || n < 200 || n > 599 {
				return 0, &headError{"the worker sent :status " + strconv.Quote(f.Value) + "; want a final status 200..599"}
			}
			status = n
		case strings.HasPrefix(f.Name, ":"):
		default:
			if strings.EqualFold(f.Name, "Connection") {
				connection = append(connection, f.Value)
			}
			kept++
		}
	}
	if status == 0 {
		return 0, &headError{"the worker's response head has no :status"}
	}
	// Each field's canonical name if it is relayed, else "", worked out
	// once: the loops below would otherwise canonicalise and check every
	// name twice.
	var keyBuf [32]string
	keys := keyBuf[:0]
	if len(head) > len(keyBuf) {
		keys = make([]string, 0, len(head))
	}
	for _, f := range head {
		k := ""
		if !strings.HasPrefix(f.Name, ":") {
			k = http.CanonicalHeaderKey(f.Name)
			if k != "Trailer" && isHopKey(k, connection) {
				k = ""
			}
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		if k != "" {
			delete(dst, k)
		}
	}
	values := make([]string, 0, kept)
	add := func(key, v string) {
		if old := dst[key]; len(old) > 0 {
			dst[key] = append(old, v)
			return
		}
		// Capped at its one value, so that a later append to it copies
		// rather than overwrite the next name's value.
		values = append(values, v)
		dst[key] = values[len(values)-1 : len(values) : len(values)]
	}
	for i, f := range head {
		if k := keys[i]; k != "" && k != "Trailer" {
			add(k, f.Value)
		}
	}
	// Declared trailers are announced to the client before the body, as
	// net/http expects them in the Trailer header, after the headers.
	for i, f := range head {
		if keys[i] == "Trailer" {
			add("Trailer", f.Value)
		}
	}
	return status, nil
}

// isHopKey is isHop for a name in canonical form (http.CanonicalHeaderKey):
// such a name matches a standard one (the names of hopHeaders) without
// folding case.
func isHopKey(k string, connection []string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	for _, v := range connection {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), k) {
				return true
			}
		}
	}
	return false
}

type headError struct{ msg string }

func (e *headError) Error() string { return "sluice: " + e.msg }

// hasTrailers reports whether an END's fields hold trailers for the client:
// its pseudo-fields are for the parent.
func hasTrailers(end ipc.Fields) bool {
	for _, f := range end {
		if !strings.HasPrefix(f.Name, ":") {
			return true
		}
	}
	return false
}

// setTrailers copies the END frame's trailers: declared ones by name, the
// rest with http.TrailerPrefix so that net/http still sends them.
func setTrailers(dst http.Header, trailers ipc.Fields) {
	declared := map[string]bool{}
	for _, v := range dst["Trailer"] {
		for _, name := range strings.Split(v, ",") {
			declared[http.CanonicalHeaderKey(strings.TrimSpace(name))] = true
		}
	}
	for _, f := range trailers {
		if strings.HasPrefix(f.Name, ":") {
			continue // the worker's word to the parent (cost.go)
		}
		name := http.CanonicalHeaderKey(f.Name)
		if declared[name] {
			dst.Add(name, f.Value)
		} else {
			dst.Add(http.TrailerPrefix+name, f.Value)
		}
	}
}
