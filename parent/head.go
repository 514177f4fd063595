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

func isHop(name string, h http.Header) bool {
	for _, x := range hopHeaders {
		if strings.EqualFold(name, x) {
			return true
		}
	}
	// Headers named in Connection are hop-by-hop too.
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// requestHead maps an HTTP request to a stream head (docs/PROTOCOL.md).
func requestHead(r *http.Request) ipc.Fields {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	f := make(ipc.Fields, 0, 6+len(r.Header))
	f = append(f,
		ipc.Field{Name: ":method", Value: r.Method},
		ipc.Field{Name: ":path", Value: r.URL.RequestURI()},
		ipc.Field{Name: ":authority", Value: r.Host},
		ipc.Field{Name: ":scheme", Value: scheme},
		ipc.Field{Name: ":remote", Value: r.RemoteAddr},
		ipc.Field{Name: ":proto", Value: r.Proto},
	)
	if r.RequestURI != "" {
		f[1].Value = r.RequestURI
	}
	for name, values := range r.Header {
		if isHop(name, r.Header) {
			continue
		}
		for _, v := range values {
			f = append(f, ipc.Field{Name: name, Value: v})
		}
	}
	if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		f = append(f, ipc.Field{Name: "Content-Length", Value: strconv.FormatInt(r.ContentLength, 10)})
	}
	return f
}

// hasBody reports whether a request body follows its head.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// parseResponseHead turns a stream head into a status and the client's
// response headers, into a fresh header so that a bad head leaves nothing
// behind in the 502 that replaces it.
func parseResponseHead(head ipc.Fields) (int, http.Header, error) {
	dst := http.Header{}
	conn := http.Header{}
	for _, f := range head {
		if strings.EqualFold(f.Name, "Connection") {
			conn.Add("Connection", f.Value)
		}
	}
	status := 0
	var declared []string
	for _, f := range head {
		if f.Name == ":status" {
			// 1xx are not final: relaying one as the status would turn
			// the real answer into an implicit 200.
			n, err := strconv.Atoi(f.Value)
			if err != nil || n < 200 || n > 599 {
				return 0, nil, &headError{"the worker sent :status " + strconv.Quote(f.Value) + "; want a final status 200..599"}
			}
			status = n
			continue
		}
		if strings.HasPrefix(f.Name, ":") {
			continue
		}
		if strings.EqualFold(f.Name, "Trailer") {
			declared = append(declared, f.Value)
			continue
		}
		if isHop(f.Name, conn) {
			continue
		}
		dst.Add(f.Name, f.Value)
	}
	if status == 0 {
		return 0, nil, &headError{"the worker's response head has no :status"}
	}
	// Declared trailers are announced to the client before the body, as
	// net/http expects them in the Trailer header.
	for _, d := range declared {
		dst.Add("Trailer", d)
	}
	return status, dst, nil
}

type headError struct{ msg string }

func (e *headError) Error() string { return "sluice: " + e.msg }

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
		name := http.CanonicalHeaderKey(f.Name)
		if declared[name] {
			dst.Add(name, f.Value)
		} else {
			dst.Add(http.TrailerPrefix+name, f.Value)
		}
	}
}
