package parent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/ipc"
)

// gwSplitHead separates a request head's pseudo-fields (in order) from its
// headers (sorted: requestHead ranges over a map).
func gwSplitHead(f ipc.Fields) (pseudo, headers []string) {
	for _, x := range f {
		s := x.Name + ": " + x.Value
		if strings.HasPrefix(x.Name, ":") {
			pseudo = append(pseudo, s)
		} else {
			headers = append(headers, s)
		}
	}
	slices.Sort(headers)
	return pseudo, headers
}

func TestRequestHeadTranslation(t *testing.T) {
	tests := []struct {
		name    string
		req     func() *http.Request
		pseudo  []string
		headers []string
		body    bool
	}{{
		name: "GET with path, query, Host and headers",
		req: func() *http.Request {
			r := httptest.NewRequest("GET", "/a/b%20c?x=1&y=%2F", nil)
			r.Host = "svc.test"
			r.Header.Add("Accept", "text/plain")
			r.Header.Add("X-Multi", "one")
			r.Header.Add("X-Multi", "two")
			return r
		},
		pseudo:  []string{":method: GET", ":path: /a/b%20c?x=1&y=%2F", ":authority: svc.test", ":scheme: http", ":remote: 192.0.2.1:1234", ":proto: HTTP/1.1"},
		headers: []string{"Accept: text/plain", "X-Multi: one", "X-Multi: two"},
	}, {
		name: "absolute-form request target goes as the client sent it",
		req: func() *http.Request {
			return httptest.NewRequest("GET", "http://svc.test/p?q", nil)
		},
		pseudo: []string{":method: GET", ":path: http://svc.test/p?q", ":authority: svc.test", ":scheme: http", ":remote: 192.0.2.1:1234", ":proto: HTTP/1.1"},
	}, {
		name: "hop-by-hop and Connection-listed headers are dropped",
		req: func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			for _, h := range hopHeaders {
				r.Header.Set(h, "x")
			}
			r.Header.Set("Connection", "keep-alive, X-Private,x-other")
			r.Header.Set("X-Private", "secret")
			r.Header.Set("X-Other", "secret")
			r.Header.Set("X-Kept", "yes")
			return r
		},
		pseudo:  []string{":method: GET", ":path: /", ":authority: example.com", ":scheme: http", ":remote: 192.0.2.1:1234", ":proto: HTTP/1.1"},
		headers: []string{"X-Kept: yes"},
	}, {
		name: "POST body without a Content-Length header gets one",
		req: func() *http.Request {
			return httptest.NewRequest("POST", "/up", strings.NewReader("hello"))
		},
		pseudo:  []string{":method: POST", ":path: /up", ":authority: example.com", ":scheme: http", ":remote: 192.0.2.1:1234", ":proto: HTTP/1.1"},
		headers: []string{"Content-Length: 5"},
		body:    true,
	}, {
		name: "Content-Length header is kept, not doubled",
		req: func() *http.Request {
			r := httptest.NewRequest("PUT", "/up", strings.NewReader("hello"))
			r.Header.Set("Content-Length", "5")
			return r
		},
		pseudo:  []string{":method: PUT", ":path: /up", ":authority: example.com", ":scheme: http", ":remote: 192.0.2.1:1234", ":proto: HTTP/1.1"},
		headers: []string{"Content-Length: 5"},
		body:    true,
	}, {
		name: "chunked upload: a body of unknown length, no Content-Length",
		req: func() *http.Request {
			r := httptest.NewRequest("POST", "/up", io.NopCloser(strings.NewReader("hello")))
			r.ContentLength = -1
			r.TransferEncoding = []string{"chunked"}
			r.Header.Set("Transfer-Encoding", "chunked")
			return r
		},
		pseudo: []string{":method: POST", ":path: /up", ":authority: example.com", ":scheme: http", ":remote: 192.0.2.1:1234", ":proto: HTTP/1.1"},
		body:   true,
	}, {
		name: "empty body is no body",
		req: func() *http.Request {
			r := httptest.NewRequest("POST", "/up", http.NoBody)
			return r
		},
		pseudo: []string{":method: POST", ":path: /up", ":authority: example.com", ":scheme: http", ":remote: 192.0.2.1:1234", ":proto: HTTP/1.1"},
	}, {
		name: "TLS and a client-made request without RequestURI",
		req: func() *http.Request {
			r, _ := http.NewRequest("DELETE", "https://svc.test:8443/items/7?force=1", nil)
			r.TLS = &tls.ConnectionState{}
			r.RemoteAddr = "[::1]:5000"
			return r
		},
		pseudo: []string{":method: DELETE", ":path: /items/7?force=1", ":authority: svc.test:8443", ":scheme: https", ":remote: [::1]:5000", ":proto: HTTP/1.1"},
	}, {
		name: "RequestURI is passed as the client sent it",
		req: func() *http.Request {
			r := httptest.NewRequest("OPTIONS", "*", nil)
			return r
		},
		pseudo: []string{":method: OPTIONS", ":path: *", ":authority: example.com", ":scheme: http", ":remote: 192.0.2.1:1234", ":proto: HTTP/1.1"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			pseudo, headers := gwSplitHead(requestHead(r))
			if !slices.Equal(pseudo, tc.pseudo) {
				t.Errorf("pseudo-fields\n%q\nwant\n%q", pseudo, tc.pseudo)
			}
			if !slices.Equal(headers, tc.headers) {
				t.Errorf("headers\n%q\nwant\n%q", headers, tc.headers)
			}
			if got := hasBody(r); got != tc.body {
				t.Errorf("hasBody = %v, want %v", got, tc.body)
			}
		})
	}
}

// TestRequestHeadOverTheWire checks the head of requests as net/http's
// server parses them, the way the gateway sees them.
func TestRequestHeadOverTheWire(t *testing.T) {
	type seen struct {
		pseudo, headers []string
		body            bool
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, h := gwSplitHead(requestHead(r))
		got <- seen{p[:4], h, hasBody(r)} // :remote and :proto vary
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	c := srv.Client()
	host := strings.TrimPrefix(srv.URL, "http://")

	req := gwRequest(t, "POST", srv.URL+"/u?q=1", strings.NewReader("0123456789"))
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Te", "trailers")
	req.Header.Set("X-End", "2")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := gwRecv(t, got, "the request")
	want := seen{
		pseudo:  []string{":method: POST", ":path: /u?q=1", ":authority: " + host, ":scheme: http"},
		headers: []string{"Accept-Encoding: gzip", "Content-Length: 10", "User-Agent: Go-http-client/1.1", "X-End: 2"},
		body:    true,
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("fixed-length POST: head\n%+v\nwant\n%+v", s, want)
	}

	// A chunked upload: Transfer-Encoding is hop-by-hop, and no length.
	req = gwRequest(t, "PUT", srv.URL+"/c", io.MultiReader(strings.NewReader("abc")))
	req.Header.Set("Accept-Encoding", "identity")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s = gwRecv(t, got, "the chunked request")
	want = seen{
		pseudo:  []string{":method: PUT", ":path: /c", ":authority: " + host, ":scheme: http"},
		headers: []string{"Accept-Encoding: identity", "User-Agent: Go-http-client/1.1"},
		body:    true,
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("chunked PUT: head\n%+v\nwant\n%+v", s, want)
	}
}

func TestParseResponseHead(t *testing.T) {
	f := func(kv ...string) ipc.Fields {
		var out ipc.Fields
		for i := 0; i < len(kv); i += 2 {
			out = append(out, ipc.Field{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name   string
		head   ipc.Fields
		status int
		header http.Header
		err    string
	}{{
		name:   "status and headers, repeated ones kept in order",
		head:   f(":status", "201", "Content-Type", "text/plain", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "content-length", "12"),
		status: 201,
		header: http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2"}, "Content-Length": {"12"}},
	}, {
		name:   "other pseudo-fields are ignored",
		head:   f(":status", "204", ":sluice", "x"),
		status: 204,
		header: http.Header{},
	}, {
		name:   "hop-by-hop and Connection-listed headers from the worker are dropped",
		head:   f(":status", "200", "Connection", "close, X-Conn", "X-Conn", "1", "Keep-Alive", "timeout=5", "Transfer-Encoding", "chunked", "Upgrade", "h2c", "Proxy-Authenticate", "Basic", "X-Ok", "1"),
		status: 200,
		header: http.Header{"X-Ok": {"1"}},
	}, {
		name:   "declared trailers are announced after the headers",
		head:   f(":status", "200", "Trailer", "X-Sum", "X-A", "1", "Trailer", "X-Count"),
		status: 200,
		header: http.Header{"X-A": {"1"}, "Trailer": {"X-Sum", "X-Count"}},
	}, {
		name:   "599 is a status",
		head:   f(":status", "599"),
		status: 599,
		header: http.Header{},
	}, {
		name: "1xx is not a final status",
		head: f(":status", "103", "Link", "</a>"),
		err:  `sluice: the worker sent :status "103"; want a final status 200..599`,
	}, {
		name: "600 is out of range",
		head: f(":status", "600"),
		err:  `sluice: the worker sent :status "600"; want a final status 200..599`,
	}, {
		name: "a status that is not a number",
		head: f(":status", "ok"),
		err:  `sluice: the worker sent :status "ok"; want a final status 200..599`,
	}, {
		name: "no status",
		head: f("Content-Type", "text/plain"),
		err:  "sluice: the worker's response head has no :status",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, header, err := parseResponseHead(tc.head)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || header != nil || status != 0 {
					t.Fatalf("got %d %v %v; want error %q", status, header, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || !reflect.DeepEqual(header, tc.header) {
				t.Errorf("got %d %v; want %d %v", status, header, tc.status, tc.header)
			}
		})
	}
}

func TestSetTrailers(t *testing.T) {
	h := http.Header{"Trailer": {"x-sum, X-Count"}}
	setTrailers(h, ipc.Fields{{Name: "X-Sum", Value: "abc"}, {Name: "x-count", Value: "3"}, {Name: "x-late", Value: "L"}})
	want := http.Header{
		"Trailer":                     {"x-sum, X-Count"},
		"X-Sum":                       {"abc"},
		"X-Count":                     {"3"},
		http.TrailerPrefix + "X-Late": {"L"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("trailers set as\n%v\nwant\n%v", h, want)
	}
}

func TestRefusedOrGone(t *testing.T) {
	refused := &ipc.StreamError{Code: ipc.CodeRefused, Remote: true}
	internal := &ipc.StreamError{Code: ipc.CodeInternal, Remote: true}
	lost := fmt.Errorf("opening: %w", ipc.ErrClosed)
	for _, tc := range []struct {
		method string
		err    error
		want   bool
	}{
		{"POST", refused, true},
		{"GET", fmt.Errorf("wrapped: %w", refused), true},
		{"GET", internal, false},
		{"GET", context.Canceled, false},
		{"GET", context.DeadlineExceeded, false},
		{"GET", lost, true},
		{"HEAD", lost, true},
		{"OPTIONS", lost, true},
		{"TRACE", lost, true},
		{"PUT", lost, true},
		{"DELETE", lost, true},
		{"POST", lost, false},
		{"PATCH", lost, false},
		{"CONNECT", errors.New("x"), false},
	} {
		if got := refusedOrGone(tc.method, tc.err); got != tc.want {
			t.Errorf("refusedOrGone(%s, %v) = %v, want %v", tc.method, tc.err, got, tc.want)
		}
	}
	// An attempt whose stream did not open keeps its cause.
	if err := (openError{fmt.Errorf("opening: %w", ipc.ErrGoAway)}); !errors.Is(err, ipc.ErrGoAway) {
		t.Errorf("%v does not wrap ipc.ErrGoAway", err)
	}
}

func TestRefusalReason(t *testing.T) {
	for err, want := range map[error]string{
		errQueueTimeout:                         "queue_timeout",
		fmt.Errorf("x: %w", errQueueFull):       "queue_full",
		errNoWorkers:                            "no_worker",
		errDraining:                             "draining",
		errors.New("something else"):            "other",
		fmt.Errorf("ctx: %w", context.Canceled): "other",
	} {
		if got := refusalReason(err); got != want {
			t.Errorf("refusalReason(%v) = %q, want %q", err, got, want)
		}
	}
}

// TestIsHopKeyMatchesIsHop: the canonical-name check the response relay uses
// agrees with isHop on every standard hop-by-hop name, names that only
// resemble one, and names the Connection header lists.
func TestIsHopKeyMatchesIsHop(t *testing.T) {
	names := append([]string{"Content-Type", "X-Trailer", "Tee", "Upgrade-Insecure", "X-Custom", "Keep-Alives"}, hopHeaders...)
	for _, connection := range [][]string{nil, {"x-custom, Keep-Alive"}, {" X-CUSTOM "}} {
		for _, n := range names {
			for _, name := range []string{n, strings.ToLower(n), strings.ToUpper(n)} {
				if got, want := isHopKey(http.CanonicalHeaderKey(name), connection), isHop(name, connection); got != want {
					t.Errorf("isHopKey(%q, %q) = %v; isHop says %v", http.CanonicalHeaderKey(name), connection, got, want)
				}
			}
		}
	}
}
