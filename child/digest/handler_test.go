package digest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// fetch GETs url with the given Want-Content-Digest ("" for none) and
// returns the response, its raw body and its Content-Digest trailer.
func fetch(t *testing.T, url, want string) (*http.Response, []byte, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want != "" {
		req.Header.Set(WantField, want)
	}
	// No transparent decompression: the digest is over the bytes sent.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp, body, resp.Trailer.Get(Field)
}

// streaming writes 64 chunks of 64 KiB, flushing after each.
var streaming = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for i := range 64 {
		chunk[0] = byte(i)
		w.Write(chunk)
		if err := http.NewResponseController(w).Flush(); err != nil {
			panic("flush through the digest writer failed: " + err.Error())
		}
	}
})

func TestTrailerOnStreamedResponse(t *testing.T) {
	srv := httptest.NewServer(Handler(streaming))
	defer srv.Close()
	for _, want := range []string{"sha-256=1", "sha-256", "sha-512=3, sha-256=1"} {
		resp, body, trailer := fetch(t, srv.URL, want)
		if resp.StatusCode != 200 || len(body) != 64*64<<10 {
			t.Fatalf("want %q: status %d, %d bytes", want, resp.StatusCode, len(body))
		}
		if err := Verify(trailer, body); err != nil {
			t.Errorf("want %q: %v", want, err)
		}
	}
}

func TestNoTrailerUnlessSHA256IsWanted(t *testing.T) {
	srv := httptest.NewServer(Handler(streaming))
	defer srv.Close()
	for _, want := range []string{"", "sha-512=3", "sha-256=0"} {
		resp, _, trailer := fetch(t, srv.URL, want)
		if trailer != "" || len(resp.Trailer) != 0 {
			t.Errorf("want %q: got trailers %v", want, resp.Trailer)
		}
	}
}

func TestTrailerWhenHandlerWritesItsOwnHead(t *testing.T) {
	body := []byte("created, with a length\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "23")
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	})
	srv := httptest.NewServer(Handler(h))
	defer srv.Close()
	resp, got, trailer := fetch(t, srv.URL, WantSHA256)
	if resp.StatusCode != http.StatusCreated || !bytes.Equal(got, body) {
		t.Fatalf("status %d body %q", resp.StatusCode, got)
	}
	if err := Verify(trailer, body); err != nil {
		t.Fatal(err)
	}
}

func TestTrailerOnEmptyBody(t *testing.T) {
	srv := httptest.NewServer(Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	_, body, trailer := fetch(t, srv.URL, WantSHA256)
	if err := Verify(trailer, body); err != nil || len(body) != 0 {
		t.Fatalf("empty body: %d bytes, %v", len(body), err)
	}
}

func TestDigestIsOfEncodedBytes(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, strings.Repeat("compress me ", 10000))
		zw.Close()
	})
	srv := httptest.NewServer(Handler(h))
	defer srv.Close()
	_, raw, trailer := fetch(t, srv.URL, WantSHA256)
	if err := Verify(trailer, raw); err != nil {
		t.Fatalf("digest of the gzip bytes: %v", err)
	}
}

// TestFlushReachesClient checks that a flush inside the wrapped handler
// sends the bytes at once: the handler waits for the client to have read the
// first chunk before it writes the rest, which deadlocks (and the test times
// out) if the flush is swallowed.
func TestFlushReachesClient(t *testing.T) {
	read := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		<-read
		io.WriteString(w, "second")
	})
	srv := httptest.NewServer(Handler(h))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set(WantField, WantSHA256)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("reading the flushed chunk: %v", err)
	}
	close(read)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(resp.Trailer.Get(Field), append(first, rest...)); err != nil {
		t.Fatal(err)
	}
}

func TestStreamingVerifierCatchesTruncation(t *testing.T) {
	srv := httptest.NewServer(Handler(streaming))
	defer srv.Close()
	_, body, trailer := fetch(t, srv.URL, WantSHA256)
	v := NewVerifier()
	v.Write(body[:len(body)-1])
	if err := v.Check(trailer); err == nil || !contains(err.Error(), "mismatch") {
		t.Fatalf("Check on a body one byte short = %v; want a mismatch", err)
	}
}
