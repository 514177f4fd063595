package parent

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// gwServeH2 serves e's Gateway again over HTTP/2, with TLS or as h2c, and
// points e's client at it.
func (e *gwEnv) gwServeH2(tlsOn bool) {
	e.t.Helper()
	srv := httptest.NewUnstartedServer(e.g)
	srv.Config.ErrorLog = gwPanicLog(e.t)
	var p http.Protocols
	p.SetHTTP1(true)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	if tlsOn {
		srv.EnableHTTP2 = true
		srv.StartTLS()
		tr.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
		tr.Protocols.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
		srv.Start()
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	e.t.Cleanup(srv.Close)
	e.t.Cleanup(tr.CloseIdleConnections)
	e.srv = srv
	e.client = &http.Client{Transport: tr, Timeout: 3 * gwWait}
}

// TestGatewayOverHTTP2: over HTTP/2, with TLS and as h2c, a flushed part
// reaches the client while the handler still runs, trailers arrive, and a
// response the worker cut short is a stream error, not a complete body.
func TestGatewayOverHTTP2(t *testing.T) {
	for _, mode := range []struct {
		name string
		tls  bool
	}{{"tls", true}, {"h2c", false}} {
		t.Run(mode.name, func(t *testing.T) {
			e := gwStart(t, Config{})
			e.gwServeH2(mode.tls)
			seen := make(chan struct{})
			e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/short" {
					w.Header().Set("Content-Length", "100")
					io.WriteString(w, "only ten..")
					return
				}
				w.Header().Set("Trailer", "X-Sum")
				if gwWriteFlushed(w, r, seen) {
					w.Header().Set("X-Sum", "s1")
				}
			}), nil)
			resp, err := e.client.Get(e.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("served over %s; want HTTP/2", resp.Proto)
			}
			gwReadFlushed(t, resp.Body, seen)
			if resp.Trailer.Get("X-Sum") != "s1" {
				t.Fatalf("trailers %v; want X-Sum: s1", resp.Trailer)
			}

			resp, err = e.client.Get(e.url("/short"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("a response cut at %d of its 100 bytes read as complete: %q", len(body), body)
			}
		})
	}
}

// gwWriteFlushed writes "first\n" and flushes it, waits for seen (or the
// request's end, then reporting false), and writes "second\n".
func gwWriteFlushed(w http.ResponseWriter, r *http.Request, seen chan struct{}) bool {
	io.WriteString(w, "first\n")
	w.(http.Flusher).Flush()
	select {
	case <-seen:
	case <-r.Context().Done():
		return false
	}
	io.WriteString(w, "second\n")
	return true
}

// gwReadFlushed reads "first\n" from body, closes seen (letting the
// handler write the rest), and reads "second\n" to the end: the first
// line arrived while the handler waited, so its flush went through.
func gwReadFlushed(t *testing.T, body io.Reader, seen chan struct{}) {
	t.Helper()
	br := bufio.NewReader(body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(seen)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}
