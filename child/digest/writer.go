package digest

import (
	"bufio"
	"encoding/base64"
	"hash"
	"net"
	"net/http"
)

// writer is the ResponseWriter that Handler gives the wrapped handler. It
// hashes what passes through, declares the trailer when the head is written
// (the handler's own WriteHeader included) and sets it when the handler is
// done.
type writer struct {
	rw          http.ResponseWriter
	sum         hash.Hash
	http1       bool
	wroteHeader bool
	withTrailer bool // false for responses that have no content: 204, 304, 101
	hijacked    bool
}

func (w *writer) Header() http.Header { return w.rw.Header() }

func (w *writer) WriteHeader(code int) {
	if w.wroteHeader || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		// Informational heads come before the real one; a second real
		// one is the handler's bug, which net/http reports.
		w.rw.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	if code != http.StatusNoContent && code != http.StatusNotModified && code != http.StatusSwitchingProtocols {
		w.withTrailer = true
		h := w.rw.Header()
		h.Add("Trailer", Field)
		if w.http1 {
			h.Del("Content-Length") // or net/http would not chunk, and drop the trailer
		}
	}
	w.rw.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.rw.Write(p)
	w.sum.Write(p[:n])
	return n, err
}

// FlushError lets http.NewResponseController flush through the wrapper and
// see the error; Flush is the older http.Flusher form of the same.
func (w *writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.rw).Flush()
}

// Flush implements http.Flusher.
func (w *writer) Flush() { _ = w.FlushError() }

// Hijack is intercepted only to remember that the connection is no longer
// ours, so that finish does not write on it.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.rw).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap gives http.NewResponseController the underlying writer for the
// methods the wrapper does not intercept (deadlines, full duplex).
func (w *writer) Unwrap() http.ResponseWriter { return w.rw }

// finish sets the trailer once the handler has returned normally.
func (w *writer) finish() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.withTrailer {
		w.rw.Header().Set(Field, "sha-256=:"+base64.StdEncoding.EncodeToString(w.sum.Sum(nil))+":")
	}
}
