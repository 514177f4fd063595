package child

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/ipc"
)

func TestGetRoundTrip(t *testing.T) {
	type seen struct {
		method, path, query, host, remote, proto, uri, accept string
		major, minor                                          int
		clen                                                  int64
		body                                                  string
		bodyErr                                               error
		hostHeader                                            bool
	}
	got := make(chan seen, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		got <- seen{
			method: r.Method, path: r.URL.Path, query: r.URL.Query().Get("x"), host: r.Host,
			remote: r.RemoteAddr, proto: r.Proto, uri: r.RequestURI, accept: r.Header.Get("Accept"),
			major: r.ProtoMajor, minor: r.ProtoMinor, clen: r.ContentLength,
			body: string(b), bodyErr: err, hostHeader: r.Header.Get("Host") != "",
		}
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		io.WriteString(w, "<html><body>hello</body></html>")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.open(t, reqHead("GET", "/page?x=42", ipc.Field{Name: "Accept", Value: "text/html"}, ipc.Field{Name: "Host", Value: "other.test"}), true)

	resp := readHead(t, st)
	if resp.status != 200 {
		t.Errorf("status %d, want 200", resp.status)
	}
	if v := resp.header["X-Multi"]; !slices.Equal(v, []string{"a", "b"}) {
		t.Errorf("X-Multi %q, want [a b] as two fields", v)
	}
	if ct := resp.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("sniffed Content-Type %q, want text/html; charset=utf-8", ct)
	}
	if body := mustBody(t, st); body != "<html><body>hello</body></html>" {
		t.Errorf("body %q", body)
	}

	s := within(t, got, "the handler")
	want := seen{
		method: "GET", path: "/page", query: "42", host: "example.test", remote: "192.0.2.1:4321",
		proto: "HTTP/1.1", uri: "/page?x=42", accept: "text/html", major: 1, minor: 1, clen: 0, // no body: the head ended the stream, as net/http gives a GET
	}
	if s != want {
		t.Errorf("the handler saw\n%+v\nwant\n%+v", s, want)
	}
}

func TestPostEcho(t *testing.T) {
	for _, withLength := range []bool{false, true} {
		t.Run(fmt.Sprintf("content-length=%v", withLength), func(t *testing.T) {
			data := make([]byte, 3<<20+17) // more than a stream window each way
			rand.NewChaCha8([32]byte{1}).Read(data)
			lengths := make(chan int64, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				lengths <- r.ContentLength
				w.Header().Set("Content-Type", "application/octet-stream")
				if _, err := io.Copy(w, r.Body); err != nil {
					t.Errorf("handler: copying the body: %v", err)
				}
			})
			wk := startWorker(t, context.Background(), h, nil, nil)
			head := reqHead("POST", "/echo")
			if withLength {
				head = append(head, ipc.Field{Name: "Content-Length", Value: strconv.Itoa(len(data))})
			}
			st := wk.open(t, head, false)
			sent := make(chan error, 1)
			go func() {
				for p := data; len(p) > 0; {
					n := min(len(p), 40<<10)
					if _, err := st.Write(p[:n]); err != nil {
						sent <- err
						return
					}
					p = p[n:]
				}
				sent <- st.CloseWrite()
			}()
			if resp := readHead(t, st); resp.status != 200 {
				t.Errorf("status %d", resp.status)
			}
			body, err := readBody(t, st)
			if err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if err := within(t, sent, "the request body to be sent"); err != nil {
				t.Fatalf("sending the body: %v", err)
			}
			if !bytes.Equal(body, data) {
				t.Errorf("echo of %d bytes differs from the %d sent", len(body), len(data))
			}
			want := int64(-1)
			if withLength {
				want = int64(len(data))
			}
			if got := within(t, lengths, "the handler"); got != want {
				t.Errorf("ContentLength %d, want %d", got, want)
			}
		})
	}
}

func TestRequestTrailers(t *testing.T) {
	got := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer.Get("X-Req-Sum")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.open(t, reqHead("PUT", "/t"), false)
	st.Write([]byte("body"))
	st.End(ipc.CodeOK, ipc.Fields{{Name: "X-Req-Sum", Value: "s1"}})
	readHead(t, st)
	mustBody(t, st)
	if v := within(t, got, "the handler"); v != "s1" {
		t.Errorf("r.Trailer X-Req-Sum = %q, want s1", v)
	}
}

func TestContentLengthShort(t *testing.T) {
	for _, written := range []string{"hello", ""} {
		t.Run(fmt.Sprintf("%d bytes", len(written)), func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10")
				io.WriteString(w, written)
			})
			wk := startWorker(t, context.Background(), h, nil, nil)
			st := wk.get(t, "/")
			if resp := readHead(t, st); resp.header.Get("Content-Length") != "10" {
				t.Errorf("Content-Length %q, want the handler's 10", resp.header.Get("Content-Length"))
			}
			body, err := readBody(t, st)
			if string(body) != written {
				t.Errorf("body %q, want the %d bytes written", body, len(written))
			}
			if code := streamCode(t, err); code != ipc.CodeInternal {
				t.Errorf("the short response ended with %v, want INTERNAL", code)
			}
			if !strings.Contains(wk.log.String(), "fewer bytes than its Content-Length") {
				t.Errorf("the short response was not logged")
			}
		})
	}
}

// TestContentLengthShortClientGone: a handler cut short because the gateway
// reset its stream (the client went away) is not blamed for a short body,
// while TestContentLengthShort's real short write still is.
func TestContentLengthShortClientGone(t *testing.T) {
	writing := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(64<<20))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		close(writing)
		chunk := make([]byte, 16<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	readHead(t, st)
	within(t, writing, "the handler to start writing")
	st.Reset(ipc.CodeCancel)
	wk.log.waitFor(t, "the stream ended before the response was complete")
	if strings.Contains(wk.log.String(), "fewer bytes than its Content-Length") {
		t.Errorf("a response cut by the gateway's reset was blamed on the handler:\n%s", wk.log.String())
	}
}

func TestContentLengthLong(t *testing.T) {
	errs := make(chan []error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		_, e1 := io.WriteString(w, "hello")
		_, e2 := io.WriteString(w, "abc")
		_, e3 := io.WriteString(w, "d")
		errs <- []error{e1, e2, e3}
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	readHead(t, st)
	if body := mustBody(t, st); body != "abc" {
		t.Errorf("body %q, want abc", body)
	}
	e := within(t, errs, "the handler")
	if !errors.Is(e[0], http.ErrContentLength) || e[1] != nil || !errors.Is(e[2], http.ErrContentLength) {
		t.Errorf("Write errors %v, want [ErrContentLength <nil> ErrContentLength]", e)
	}
}

func TestResponseTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum, X-Count")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set("X-Count", "1")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	resp := readHead(t, st)
	if v := resp.header.Get("Trailer"); v != "X-Checksum, X-Count" {
		t.Errorf("Trailer header %q, want the declaration", v)
	}
	if body := mustBody(t, st); body != "data" {
		t.Errorf("body %q", body)
	}
	want := ipc.Fields{{Name: "X-Checksum", Value: "abc"}, {Name: "X-Count", Value: "1"}, {Name: "X-Late", Value: "late"}}
	if got := st.Trailers(); !slices.Equal(got, want) {
		t.Errorf("trailers %v, want %v", got, want)
	}
}

func TestFlushSendsHeadFirst(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Early", "yes")
		w.WriteHeader(http.StatusAccepted)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		<-release
		io.WriteString(w, "later")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	// The handler is blocked until release: the head must arrive anyway.
	resp := readHead(t, st)
	if resp.status != http.StatusAccepted || resp.header.Get("X-Early") != "yes" {
		t.Errorf("head %d %v, want 202 with X-Early", resp.status, resp.header)
	}
	close(release)
	if body := mustBody(t, st); body != "later" {
		t.Errorf("body %q", body)
	}
}

func TestEmptyResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	resp := readHead(t, st)
	if resp.status != 200 || resp.header.Get("Content-Length") != "0" {
		t.Errorf("head %d %v, want 200 with Content-Length 0", resp.status, resp.header)
	}
	if body := mustBody(t, st); body != "" {
		t.Errorf("body %q", body)
	}
}

func TestPanicBeforeHead(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // not sent yet: the 500 replaces it
		panic("boom")
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	if resp := readHead(t, st); resp.status != 500 {
		t.Errorf("status %d, want 500", resp.status)
	}
	mustBody(t, st)
	if log := wk.log.String(); !strings.Contains(log, "handler panicked") || !strings.Contains(log, "boom") || !strings.Contains(log, "goroutine") {
		t.Errorf("the panic was not logged with its value and stack:\n%s", log)
	}
}

func TestPanicAfterHead(t *testing.T) {
	for _, v := range []any{"boom", http.ErrAbortHandler} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				panic(v)
			})
			wk := startWorker(t, context.Background(), h, nil, nil)
			st := wk.get(t, "/")
			readHead(t, st)
			body, err := readBody(t, st)
			if string(body) != "partial" {
				t.Errorf("body %q", body)
			}
			if code := streamCode(t, err); code != ipc.CodeInternal {
				t.Errorf("ended with %v, want INTERNAL", code)
			}
			logged := strings.Contains(wk.log.String(), "handler panicked")
			if want := v != http.ErrAbortHandler; logged != want {
				t.Errorf("panic logged: %v, want %v", logged, want)
			}
		})
	}
}

func TestHeadRequest(t *testing.T) {
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		_, err := io.WriteString(w, "hello")
		errs <- err
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.open(t, reqHead("HEAD", "/"), true)
	resp := readHead(t, st)
	if resp.header.Get("Content-Length") != "5" {
		t.Errorf("Content-Length %q, want the handler's 5", resp.header.Get("Content-Length"))
	}
	if body := mustBody(t, st); body != "" {
		t.Errorf("a HEAD response carried a body: %q", body)
	}
	if err := within(t, errs, "the handler"); err != nil {
		t.Errorf("Write on HEAD: %v", err)
	}
}

func TestMalformedHead(t *testing.T) {
	ran := make(chan string, 10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran <- r.RequestURI })
	wk := startWorker(t, context.Background(), h, nil, nil)
	for _, tc := range []struct {
		name string
		head ipc.Fields
		want string
	}{
		{"no method", ipc.Fields{{Name: ":path", Value: "/"}}, ":method is missing"},
		{"no path", ipc.Fields{{Name: ":method", Value: "GET"}}, ":path is missing"},
		{"bad method", reqHead("GE T", "/"), "not an HTTP token"},
		{"bad path", reqHead("GET", "no-slash"), ":path"},
		{"bad proto", reqHead("GET", "/", ipc.Field{Name: ":proto", Value: "HTTP/x"}), ":proto"},
		{"bad length", reqHead("GET", "/", ipc.Field{Name: "Content-Length", Value: "-3"}), "Content-Length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := wk.open(t, tc.head, true)
			if resp := readHead(t, st); resp.status != 400 {
				t.Errorf("status %d, want 400", resp.status)
			}
			if body := mustBody(t, st); !strings.Contains(body, tc.want) {
				t.Errorf("body %q does not say %q", body, tc.want)
			}
		})
	}
	select {
	case uri := <-ran:
		t.Errorf("the handler ran for a malformed head (%q)", uri)
	default:
	}
}

func TestRequestContextEndsOnReset(t *testing.T) {
	started := make(chan struct{})
	causes := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		causes <- context.Cause(r.Context())
	})
	wk := startWorker(t, context.Background(), h, nil, nil)
	st := wk.get(t, "/")
	within(t, started, "the handler to start")
	st.Reset(ipc.CodeCancel)
	cause := within(t, causes, "the handler to see its context end")
	if code := streamCode(t, cause); code != ipc.CodeCancel {
		t.Errorf("cause %v, want the parent's CANCEL", cause)
	}
}

type ctxKey struct{}

func TestRequestContextCarriesServeValues(t *testing.T) {
	got := make(chan any, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Context().Value(ctxKey{}) })
	wk := startWorker(t, context.WithValue(context.Background(), ctxKey{}, "v"), h, nil, nil)
	st := wk.get(t, "/")
	mustBody(t, st)
	if v := within(t, got, "the handler"); v != "v" {
		t.Errorf("request context value %v, want Serve's v", v)
	}
}

// A handler that ignores a small request body must not leave a parent that
// sends the whole body before reading the response blocked on credit.
func TestUnreadBodyDrained(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ignored") })
	// The worker grants the smallest window, so the parent blocks after
	// 64 KiB unless the worker reads.
	wk := startWorker(t, context.Background(), h, &Config{IPC: &ipc.Config{StreamWindow: 64 << 10}}, nil)
	st := wk.open(t, reqHead("POST", "/"), false)
	sent := make(chan error, 1)
	go func() {
		_, err := st.Write(make([]byte, 200<<10))
		if err == nil {
			err = st.CloseWrite()
		}
		sent <- err
	}()
	if err := within(t, sent, "the parent to send the whole body"); err != nil {
		t.Fatalf("sending the body: %v", err)
	}
	readHead(t, st)
	if body := mustBody(t, st); body != "ignored" {
		t.Errorf("body %q", body)
	}
}

// A parent that has the complete response may reset the stream to stop
// sending a body the handler never read: the response stays complete, and
// the worker's stream ends, so that Serve can stop.
func TestParentResetAfterCompleteResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "early answer") })
	wk := startWorker(t, context.Background(), h, &Config{IPC: &ipc.Config{StreamWindow: 64 << 10}}, nil)
	st := wk.open(t, reqHead("POST", "/upload"), false)
	sent := make(chan error, 1)
	go func() {
		// Far beyond the window and the worker's drain: this blocks.
		_, err := st.Write(make([]byte, 4<<20))
		sent <- err
	}()
	readHead(t, st)
	if body := mustBody(t, st); body != "early answer" {
		t.Errorf("body %q", body)
	}
	st.Reset(ipc.CodeCancel)
	if err := within(t, sent, "the body writer to stop"); err == nil {
		t.Errorf("the whole body was sent; the test did not exercise an unread body")
	}
	if _, err := st.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the reset, the complete response reads %v, want io.EOF", err)
	}
	if tr := st.Trailers(); tr != nil {
		t.Errorf("trailers %v", tr)
	}
	wk.parent.GoAway(ipc.CodeOK, "done")
	if err := within(t, wk.served, "Serve to return"); err != nil {
		t.Errorf("Serve: %v", err)
	}
	wk.served <- nil
}
