package load

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child/digest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var fixedBody = bytes.Repeat([]byte("sluice load test body\n"), 50000) // ~1 MB

// cut writes a response head and part of the body on a hijacked connection,
// then closes it: the client must see an incomplete body.
func cut(head string, partial string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		bw.WriteString(head + partial)
		bw.Flush()
	}
}

func testServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/fixed", func(w http.ResponseWriter, r *http.Request) { w.Write(fixedBody) })
	mux.HandleFunc("/streamed", func(w http.ResponseWriter, r *http.Request) {
		for range 4 {
			w.Write(fixedBody)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/cut-length", cut("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "only ten b"))
	mux.HandleFunc("/cut-chunked", cut("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "a\r\nonly ten b\r\n"))
	mux.Handle("/digest", digest.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(fixedBody) })))
	mux.HandleFunc("/bad-digest", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", digest.Field)
		w.Write(fixedBody)
		w.Header().Set(digest.Field, "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run(%+v): %v", cfg, err)
	}
	return rep
}

func TestCompleteResponses(t *testing.T) {
	srv := testServer(t)
	for _, path := range []string{"/fixed", "/streamed", "/empty"} {
		rep := run(t, Config{URL: srv.URL + path, Requests: 20, Concurrency: 4})
		s := rep.Summary
		want := int64(len(fixedBody)) * 20
		switch path {
		case "/streamed":
			want *= 4
		case "/empty":
			want = 0
		}
		if s.Requests != 20 || s.Errors != 0 || s.Statuses[200] != 20 || s.Bytes != want {
			t.Fatalf("%s: summary %+v; want 20 requests, no errors, 20×200, %d bytes", path, s, want)
		}
		for i, r := range rep.Results {
			if r.Index != i || r.Err != "" || r.TTFB <= 0 || r.TTLB < r.TTFB || r.DigestOK != nil {
				t.Fatalf("%s: result %d = %+v", path, i, r)
			}
		}
		if s.TTLB.Max <= 0 || s.TTLB.Median > s.TTLB.P99 || s.TTLB.P99 > s.TTLB.Max || s.Throughput <= 0 && want > 0 {
			t.Fatalf("%s: inconsistent stats %+v", path, s)
		}
	}
}

func TestEarlyEndIsAnError(t *testing.T) {
	srv := testServer(t)
	for _, path := range []string{"/cut-length", "/cut-chunked"} {
		rep := run(t, Config{URL: srv.URL + path, Requests: 3, Concurrency: 2})
		if rep.Summary.Errors != 3 {
			t.Fatalf("%s: %d errors in %+v; want every request to fail", path, rep.Summary.Errors, rep.Results)
		}
		for _, r := range rep.Results {
			if r.Status != 200 || r.Bytes != 10 || !strings.Contains(r.Err, "body ended after 10 bytes") {
				t.Fatalf("%s: result %+v; want status 200, 10 bytes and a body error", path, r)
			}
		}
	}
}

func TestStatusesAreCountedNotErrors(t *testing.T) {
	srv := testServer(t)
	rep := run(t, Config{URL: srv.URL + "/busy", Requests: 5, Concurrency: 5})
	if s := rep.Summary; s.Errors != 0 || s.Statuses[503] != 5 {
		t.Fatalf("summary %+v; want 5×503 and no errors", s)
	}
}

func TestDigestChecked(t *testing.T) {
	srv := testServer(t)
	rep := run(t, Config{URL: srv.URL + "/digest", Requests: 4, Concurrency: 2, Digest: true})
	for _, r := range rep.Results {
		if r.Err != "" || r.DigestOK == nil || !*r.DigestOK {
			t.Fatalf("/digest: result %+v; want a verified digest", r)
		}
	}
	rep = run(t, Config{URL: srv.URL + "/bad-digest", Requests: 2, Concurrency: 1, Digest: true})
	for _, r := range rep.Results {
		if r.DigestOK == nil || *r.DigestOK || !strings.Contains(r.Err, "mismatch") {
			t.Fatalf("/bad-digest: result %+v; want a digest mismatch", r)
		}
	}
	rep = run(t, Config{URL: srv.URL + "/fixed", Requests: 1, Concurrency: 1, Digest: true})
	if r := rep.Results[0]; r.DigestOK == nil || *r.DigestOK || !strings.Contains(r.Err, "no Content-Digest") {
		t.Fatalf("/fixed with Digest: result %+v; want a missing-digest error", r)
	}
}

func TestDurationEndsTheRun(t *testing.T) {
	srv := testServer(t)
	rep := run(t, Config{URL: srv.URL + "/fixed", Duration: 20 * time.Millisecond, Concurrency: 2})
	if rep.Summary.Requests == 0 || rep.Summary.Errors != 0 {
		t.Fatalf("summary %+v; want some requests and no errors", rep.Summary)
	}
}

func TestHeaderAndTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "yes" || r.Host != "example.test" {
			http.Error(w, fmt.Sprintf("X-Test %q, Host %q", r.Header.Get("X-Test"), r.Host), 400)
			return
		}
		w.Write([]byte("start"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	h := http.Header{"X-Test": {"yes"}, "Host": {"example.test"}}
	rep := run(t, Config{URL: srv.URL, Requests: 1, Concurrency: 1, Header: h, Timeout: 50 * time.Millisecond})
	r := rep.Results[0]
	if r.Status != 200 || r.Bytes != 5 || !strings.Contains(r.Err, "deadline exceeded") {
		t.Fatalf("result %+v; want 200, 5 bytes, then a timeout", r)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "", Requests: 1},
		{URL: "ftp://x/", Requests: 1},
		{URL: "http://127.0.0.1:1/"},
		{URL: "http://127.0.0.1:1/", Requests: -1},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded; want a configuration error", cfg)
		}
	}
}

func TestCancelReturnsPartialReport(t *testing.T) {
	srv := testServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Run(ctx, Config{URL: srv.URL + "/fixed", Requests: 10, Concurrency: 2})
	if err == nil || rep == nil {
		t.Fatalf("Run with a cancelled context = %v, %v; want a partial report and an error", rep, err)
	}
}
