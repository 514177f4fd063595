package parent

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// FuzzRequestHead feeds raw HTTP/1.1 requests through net/http's parser, as
// the server would, and maps every request it accepts to a stream head. The
// head must carry the request exactly: its pseudo-fields in order, every
// end-to-end header with all its values, no hop-by-hop header, and a
// Content-Length that agrees with the body's. Read back as the worker does
// (one header per field name), it gives the request's own headers.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET /payload?size=1MiB HTTP/1.1\r\nHost: svc.test\r\nAccept: */*\r\n\r\n",
		"POST /upload HTTP/1.1\r\nHost: svc.test\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
		"POST /chunked HTTP/1.1\r\nHost: svc.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Private\r\nX-Private: s\r\nTe: trailers\r\nUpgrade: h2c\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n",
		"GET http://svc.test/abs?q HTTP/1.1\r\nHost: svc.test\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // refused before the gateway sees it
		}
		r.RemoteAddr = "192.0.2.1:1234"
		head := requestHead(r)
		wantPseudo := []string{":method", r.Method, ":path", r.RequestURI, ":authority", r.Host, ":scheme", "http", ":remote", r.RemoteAddr, ":proto", r.Proto}
		if len(head) < 6 {
			t.Fatalf("head %q has fewer than the 6 pseudo-fields", head)
		}
		for i := range 6 {
			if head[i].Name != wantPseudo[2*i] || head[i].Value != wantPseudo[2*i+1] {
				t.Fatalf("pseudo-field %d is %q=%q; want %q=%q", i, head[i].Name, head[i].Value, wantPseudo[2*i], wantPseudo[2*i+1])
			}
		}
		got := http.Header{}
		for _, x := range head[6:] {
			if strings.HasPrefix(x.Name, ":") {
				t.Fatalf("header field %q looks like a pseudo-field", x.Name)
			}
			if isHop(x.Name, r.Header["Connection"]) {
				t.Fatalf("hop-by-hop header %q forwarded", x.Name)
			}
			k := http.CanonicalHeaderKey(x.Name)
			got[k] = append(got[k], x.Value)
		}
		want := http.Header{}
		for k, vv := range r.Header {
			if !isHop(k, r.Header["Connection"]) {
				want[k] = slices.Clone(vv)
			}
		}
		if _, sent := want["Content-Length"]; r.ContentLength > 0 || sent && r.ContentLength == 0 {
			want["Content-Length"] = []string{strconv.FormatInt(r.ContentLength, 10)}
		} else {
			delete(want, "Content-Length")
		}
		if !headersEqual(got, want) {
			t.Fatalf("head headers %q; want %q", got, want)
		}
		if cl := got.Get("Content-Length"); r.ContentLength >= 0 && cl != "" && cl != strconv.FormatInt(r.ContentLength, 10) {
			t.Fatalf("Content-Length %q in the head, but the body has %d bytes", cl, r.ContentLength)
		}
		if hasBody(r) != (r.ContentLength != 0) {
			t.Fatalf("hasBody %v with ContentLength %d", hasBody(r), r.ContentLength)
		}
	})
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// fuzzFieldSep and fuzzValueSep split a fuzz input into a response head:
// fields separated by NUL+SOH, name from value by SOH+NUL, so that names
// and values may hold any other byte, CR and LF included.
const (
	fuzzFieldSep = "\x00\x01"
	fuzzValueSep = "\x01\x00"
)

func encodeFuzzHead(f ipc.Fields) []byte {
	var parts []string
	for _, x := range f {
		parts = append(parts, x.Name+fuzzValueSep+x.Value)
	}
	return []byte(strings.Join(parts, fuzzFieldSep))
}

// fuzzFields pairs name, value, name, value... into fields.
func fuzzFields(kv ...string) ipc.Fields {
	var f ipc.Fields
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, ipc.Field{Name: kv[i], Value: kv[i+1]})
	}
	return f
}

func decodeFuzzHead(b []byte) ipc.Fields {
	var f ipc.Fields
	if len(b) == 0 {
		return f
	}
	for _, part := range strings.Split(string(b), fuzzFieldSep) {
		name, value, _ := strings.Cut(part, fuzzValueSep)
		f = append(f, ipc.Field{Name: name, Value: value})
	}
	return f
}

// FuzzResponseHead maps a worker's response head to the client's response
// headers. A head without a final :status 200..599 must be an error that
// leaves the client's headers untouched; an accepted one must keep every
// end-to-end header in order and no pseudo-field or hop-by-hop header, and
// written by net/http's header writer it must not grow a header line the
// worker did not name (a CR or LF in a value cannot inject one).
func FuzzResponseHead(f *testing.F) {
	for _, h := range realResponseHeads(f) {
		f.Add(encodeFuzzHead(h))
	}
	for _, h := range [][]string{
		{":status", "200", "Content-Type", "application/octet-stream", "Trailer", "Content-Digest"},
		{":status", "101", "Upgrade", "h2c"},
		{":status", "204", "Connection", "X-Hop", "X-Hop", "1", "Keep-Alive", "timeout=5"},
		{"X-No-Status", "1"},
		{":status", "200", "X-Evil", "a\r\nSet-Cookie: injected=1"},
		{":status", "200", ":status", "abc"},
		{":status", "503", ":path", "/not-a-response-field", "retry-after", "1"},
	} {
		f.Add(encodeFuzzHead(fuzzFields(h...)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		head := decodeFuzzHead(b)
		wantStatus, wantOK := 0, true
		var connection []string
		for _, x := range head {
			if x.Name == ":status" {
				n, err := strconv.Atoi(x.Value)
				if err != nil || n < 200 || n > 599 {
					wantOK = false
				}
				wantStatus = n
			}
			if strings.EqualFold(x.Name, "Connection") {
				connection = append(connection, x.Value)
			}
		}
		if wantStatus == 0 {
			wantOK = false
		}
		dst := http.Header{"X-Before": {"kept"}}
		status, err := relayResponseHead(head, dst)
		if !wantOK {
			if err == nil {
				t.Fatalf("head %q accepted with status %d; want an error", head, status)
			}
			if len(dst) != 1 || dst.Get("X-Before") != "kept" {
				t.Fatalf("a refused head changed the headers: %q", dst)
			}
			return
		}
		if err != nil || status != wantStatus {
			t.Fatalf("head %q: status %d, %v; want %d", head, status, err, wantStatus)
		}
		want := map[string][]string{}
		for _, x := range head {
			if strings.HasPrefix(x.Name, ":") {
				continue
			}
			k := http.CanonicalHeaderKey(x.Name)
			if k != "Trailer" && isHop(x.Name, connection) {
				continue
			}
			want[k] = append(want[k], x.Value)
		}
		for k, vv := range dst {
			if strings.HasPrefix(k, ":") {
				t.Fatalf("pseudo-field %q relayed", k)
			}
			if k == "X-Before" && want[k] == nil {
				continue
			}
			if !slices.Equal(vv, want[k]) {
				t.Fatalf("header %q relayed as %q; want %q", k, vv, want[k])
			}
		}
		for k := range want {
			if dst[k] == nil {
				t.Fatalf("header %q dropped", k)
			}
		}
		var wire bytes.Buffer
		if err := dst.Write(&wire); err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(strings.TrimSuffix(wire.String(), "\r\n"), "\r\n") {
			if line == "" {
				continue
			}
			name, _, ok := strings.Cut(line, ": ")
			if !ok || dst[name] == nil {
				t.Fatalf("written headers have line %q, which the worker did not send", line)
			}
		}
	})
}

// realResponseHeads runs the worker library over a socketpair and returns
// the response heads it sends for a few handlers, as seeds taken from real
// frames.
func realResponseHeads(tb testing.TB) []ipc.Fields {
	mux := http.NewServeMux()
	mux.HandleFunc("/digest", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Trailer", "Content-Digest")
		io.WriteString(w, "body")
		w.Header().Set("Content-Digest", "sha-256=:x:")
	})
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		io.WriteString(w, "body")
	})
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	})
	conn := gwChildConn(tb, mux)
	ctx := context.Background()
	var heads []ipc.Fields
	for _, path := range []string{"/digest", "/length", "/error", "/missing"} {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := conn.OpenStream(rctx, fuzzFields(":method", "GET", ":path", path, ":authority", "svc.test"), true)
		if err != nil {
			rcancel()
			tb.Fatal(err)
		}
		h, err := st.ReadHead(rctx)
		if err != nil {
			rcancel()
			tb.Fatal(err)
		}
		heads = append(heads, slices.Clone(h))
		io.Copy(io.Discard, st)
		rcancel()
	}
	return heads
}
