package parent

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// gwEchoHeaders is a worker handler that answers with what the worker
// received of the forwarding headers.
var gwEchoHeaders = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	for _, k := range []string{headerRequestID, headerForwardedFor, headerForwardedProto} {
		w.Header()["Got-"+k] = r.Header.Values(k)
	}
})

// TestRequestIDGenerated: a request without an id gets a new one, 32 hex
// digits as nginx's $request_id, which the worker sees and the client gets
// back; two requests get two ids.
func TestRequestIDGenerated(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, gwEchoHeaders, nil)
	seen := map[string]bool{}
	for range 2 {
		resp, _, err := e.get("/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", err, resp)
		}
		id := resp.Header.Get(headerRequestID)
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("X-Request-Id %q; want 32 hex digits", id)
		}
		if got := resp.Header.Values("Got-" + headerRequestID); len(got) != 1 || got[0] != id {
			t.Fatalf("the worker saw X-Request-Id %q; want the one returned, %q", got, id)
		}
		seen[id] = true
	}
	if len(seen) != 2 {
		t.Fatalf("two requests got ids %v; want two different", seen)
	}
}

// TestRequestIDFromClient: a sane id of the client's is kept end to end;
// one too long, with spaces, or given twice is replaced.
func TestRequestIDFromClient(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, gwEchoHeaders, nil)
	for _, tc := range []struct {
		ids  []string
		kept bool
	}{
		{[]string{"client-id-1"}, true},
		{[]string{strings.Repeat("a", maxRequestIDLen)}, true},
		{[]string{strings.Repeat("a", maxRequestIDLen+1)}, false},
		{[]string{"has space"}, false},
		{[]string{`a"b`}, false},
		{[]string{"one", "two"}, false},
	} {
		req := gwRequest(t, "GET", e.url("/"), nil)
		req.Header[headerRequestID] = tc.ids
		resp, _, err := e.do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%q: %v %v", tc.ids, err, resp)
		}
		id := resp.Header.Get(headerRequestID)
		got := resp.Header.Values("Got-" + headerRequestID)
		if len(got) != 1 || got[0] != id {
			t.Errorf("%q: the worker saw %q, the client got %q; want one id, the same", tc.ids, got, id)
		}
		if kept := id == tc.ids[0]; kept != tc.kept {
			t.Errorf("%q: id %q; kept %v, want %v", tc.ids, id, kept, tc.kept)
		}
		if !tc.kept && (len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" || slices.Contains(tc.ids, id)) {
			t.Errorf("%q: id %q; want a new one, 32 hex digits", tc.ids, id)
		}
	}
}

// TestForwardedHeaders: the client's address is appended to the
// X-Forwarded-For it sent (several header lines joined in order), and
// X-Forwarded-Proto is the scheme it used, not what it claimed.
func TestForwardedHeaders(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, gwEchoHeaders, nil)
	for _, tc := range []struct {
		xff  []string
		want string
	}{
		{nil, "127.0.0.1"},
		{[]string{"203.0.113.9"}, "203.0.113.9, 127.0.0.1"},
		{[]string{"203.0.113.9, 198.51.100.2", "192.0.2.1"}, "203.0.113.9, 198.51.100.2, 192.0.2.1, 127.0.0.1"},
	} {
		req := gwRequest(t, "GET", e.url("/"), nil)
		req.Header[headerForwardedFor] = tc.xff
		req.Header.Set(headerForwardedProto, "https")
		resp, _, err := e.do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", err, resp)
		}
		if got := resp.Header.Values("Got-" + headerForwardedFor); len(got) != 1 || got[0] != tc.want {
			t.Errorf("X-Forwarded-For %q; the worker saw %q, want %q", tc.xff, got, tc.want)
		}
		if got := resp.Header.Values("Got-" + headerForwardedProto); len(got) != 1 || got[0] != "http" {
			t.Errorf("X-Forwarded-Proto: the worker saw %q; want http, the scheme used", got)
		}
	}
}

// TestRequestIDOnRefusal: the gateway's own answers carry the id too.
func TestRequestIDOnRefusal(t *testing.T) {
	e := gwStart(t, Config{QueueTimeout: 1})
	req := gwRequest(t, "GET", e.url("/"), nil)
	req.Header.Set(headerRequestID, "mine")
	resp, _, err := e.do(req)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get(headerRequestID) != "mine" {
		t.Fatalf("%v %v; want a 503 with X-Request-Id mine", err, resp)
	}
}

// TestForwardedHeadersFromAUnixPeer: a proxy on a Unix socket (nginx
// terminating TLS in front) has its X-Forwarded-For and X-Forwarded-Proto
// passed as it sent them: there is no address to append, and its scheme is
// its client's. A TCP client's claimed scheme is replaced.
func TestForwardedHeadersFromAUnixPeer(t *testing.T) {
	for _, tc := range []struct {
		remote, proto  string
		xff            []string
		wantXFF, wantP string
	}{
		{"@", "https", []string{"203.0.113.9"}, "203.0.113.9", "https"},
		{"", "", []string{"203.0.113.9", "192.0.2.1"}, "203.0.113.9, 192.0.2.1", "http"},
		{"@", "https", nil, "", "https"},
		{"10.1.2.3:4567", "https", []string{"203.0.113.9"}, "203.0.113.9, 10.1.2.3", "http"},
	} {
		r := gwRequest(t, "GET", "http://h.example/", nil)
		r.RemoteAddr = tc.remote
		r.Header[headerForwardedFor] = tc.xff
		if tc.proto != "" {
			r.Header.Set(headerForwardedProto, tc.proto)
		}
		got := map[string][]string{}
		for _, f := range addProxyHeaders(appendRequestHead(nil, r), r, "id1") {
			got[f.Name] = append(got[f.Name], f.Value)
		}
		wantXFF := []string{tc.wantXFF}
		if tc.wantXFF == "" {
			wantXFF = nil
		}
		if fmt.Sprint(got[headerForwardedFor]) != fmt.Sprint(wantXFF) || fmt.Sprint(got[headerForwardedProto]) != "["+tc.wantP+"]" || fmt.Sprint(got[headerRequestID]) != "[id1]" {
			t.Errorf("from %q: X-Forwarded-For %q, -Proto %q, X-Request-Id %q; want %q, %q, id1", tc.remote, got[headerForwardedFor], got[headerForwardedProto], got[headerRequestID], wantXFF, tc.wantP)
		}
	}
}
