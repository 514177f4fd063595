package parent

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeadLimits: a request target over its share gets 414 and a head
// over the limit 431, from the gateway, with no worker asked (nor a
// retry); a head just under the limit is served, and requestHeadSize is
// the size of the block the worker gets.
func TestHeadLimits(t *testing.T) {
	e := gwStart(t, Config{Workers: 1, MaxHeaderBytes: 8 << 10})
	asked := 0
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked++ // one worker, one request at a time in this test
		w.Write([]byte("ok"))
	}), nil)

	long := gwRequest(t, "GET", e.url("/x?"+strings.Repeat("a", 2<<10)), nil)
	resp, body, err := e.do(long)
	if err != nil || resp.StatusCode != http.StatusRequestURITooLong || !strings.Contains(string(body), "request target") {
		t.Fatalf("a 2 KiB target under an 8 KiB limit: %v %v %q; want 414", resp, err, body)
	}
	big := gwRequest(t, "GET", e.url("/x"), nil)
	big.Header.Set("X-Big", strings.Repeat("b", 8<<10))
	resp, body, err = e.do(big)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("an 8 KiB header: %v %v %q; want 431", resp, err, body)
	}
	if asked != 0 {
		t.Fatalf("the worker was asked %d times for refused heads", asked)
	}
	if n := gwMetric(t, e.g, "sluice_http_retried_total", nil); n != 0 {
		t.Fatalf("%v retries of refused heads", n)
	}
	if n := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"code": "431"}); n != 1 {
		t.Fatalf("431s counted %v; want 1", n)
	}

	ok := gwRequest(t, "GET", e.url("/x"), nil)
	ok.Header.Set("X-Fits", strings.Repeat("c", 7<<10))
	resp, body, err = e.do(ok)
	if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("a 7 KiB header: %v %v %q; want 200", resp, err, body)
	}
}

// TestRequestHeadSizeIsTheEncodedSize: the count the limit uses is the
// size of the field block a worker gets (6 bytes of lengths per field):
// what appendRequestHead builds and addProxyHeaders adds, with the longest
// request id, for requests with and without the fields they add. It may
// count a few bytes more (the client's port, the scheme's longest), never
// less.
func TestRequestHeadSizeIsTheEncodedSize(t *testing.T) {
	for _, r := range []*http.Request{
		gwRequest(t, "GET", "http://h.example/p?q=1", nil),
		gwRequest(t, "POST", "http://h.example/upload", strings.NewReader("12345")),
	} {
		r.RequestURI = r.URL.RequestURI()
		r.RemoteAddr = "127.0.0.1:5555"
		r.Header.Set("Connection", "keep-alive, X-Hop")
		r.Header.Set("X-Hop", "dropped")
		r.Header.Add("Accept", "a")
		r.Header.Add("Accept", "b")
		want := 0
		for _, f := range addProxyHeaders(appendRequestHead(nil, r), r, strings.Repeat("i", maxRequestIDLen)) {
			want += 6 + len(f.Name) + len(f.Value)
		}
		if got := requestHeadSize(r, r.RequestURI); got < want || got > want+16 {
			t.Errorf("%s %s: requestHeadSize %d; the block is %d bytes", r.Method, r.URL, got, want)
		}
	}
}

func TestVerifyMaxHeaderBytes(t *testing.T) {
	for _, n := range []int{1, MinMaxHeaderBytes - 1, HeadFrameLimit + 1} {
		if err := VerifyConfig(&Config{MaxHeaderBytes: n}); err == nil || !strings.Contains(err.Error(), "MaxHeaderBytes") {
			t.Errorf("MaxHeaderBytes %d: %v; want refused", n, err)
		}
	}
	for _, n := range []int{0, MinMaxHeaderBytes, HeadFrameLimit} {
		if err := VerifyConfig(&Config{MaxHeaderBytes: n}); err != nil {
			t.Errorf("MaxHeaderBytes %d: %v", n, err)
		}
	}
}
