package child

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzhttp"
)

// headWriter is the ResponseWriter of a HEAD request under compression: it
// gives the head the Content-Encoding, Vary and ETag that a GET with the
// same Accept-Encoding would get, by gzhttp's rules (no encoding for a
// Content-Encoding or Content-Range the handler set, a type not compressed,
// or a Content-Length below the minimum). A HEAD body is never sent, so
// what decides is the declared length, else the bytes the handler wrote
// (held, up to the minimum, as gzhttp holds them), else, for a handler that
// writes nothing on HEAD, that the length is unknown: encoded, as a GET of
// unknown length would be once it reached the minimum.
type headWriter struct {
	http.ResponseWriter
	c       *compressor
	coding  string // "" for identity
	code    int    // the status the handler set, held until decided
	decided bool
	encoded bool   // the head says Content-Encoding: coding
	held    []byte // body written before deciding, at most the minimum
	n       int64  // body bytes written
}

// WriteHeader holds a final status until the encoding is decided.
func (w *headWriter) WriteHeader(code int) {
	if code < 200 || w.decided {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.code == 0 {
		w.code = code
	}
}

// Write counts p and, until deciding, holds it; an encoded head drops the
// body (it is not sent on HEAD, and its identity length must not become the
// head's Content-Length).
func (w *headWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if !w.decided {
		w.held = append(w.held, p...)
		if int64(len(w.held)) < w.c.cfg.MinSize {
			return len(p), nil
		}
		return len(p), w.decide(false)
	}
	if w.encoded {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// FlushError decides as gzhttp does at a flush (the length is taken to be
// at least the minimum) and flushes.
func (w *headWriter) FlushError() error {
	if !w.decided {
		if w.n == 0 {
			w.coding = "" // as headFirstWriter decides for a GET
		}
		if err := w.decide(true); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *headWriter) Flush() { _ = w.FlushError() }

// Unwrap gives http.ResponseController the writer underneath.
func (w *headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish decides once the handler has returned, if nothing did before.
func (w *headWriter) finish() {
	if !w.decided {
		w.decide(w.n == 0)
	}
}

// decide sets the head's fields, sends the held status and body, and makes
// the writer pass through from now on. unknown says the body's length is
// not known from what was written (a flush, or nothing written).
func (w *headWriter) decide(unknown bool) error {
	w.decided = true
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	h := w.Header()
	w.encoded = w.coding != "" && w.encodes(h, code, unknown)
	h.Del(gzhttp.HeaderNoCompression)
	if w.encoded {
		h.Set("Content-Encoding", w.coding)
		h.Del("Content-Length")
		h.Del("Accept-Ranges")
		if tag := h.Get("Etag"); tag != "" {
			i := strings.LastIndex(tag, `"`)
			if i < 0 {
				i = len(tag)
			}
			h.Set("Etag", tag[:i]+"-"+w.coding+tag[i:])
		}
	}
	w.ResponseWriter.WriteHeader(code)
	held := w.held
	w.held = nil
	if w.encoded || len(held) == 0 {
		return nil
	}
	_, err := w.ResponseWriter.Write(held)
	return err
}

// encodes is gzhttp's decision for a GET with this head.
func (w *headWriter) encodes(h http.Header, code int, unknown bool) bool {
	if !bodyAllowed(code) || h.Get("Content-Encoding") != "" || h.Get("Content-Range") != "" || len(h[gzhttp.HeaderNoCompression]) > 0 {
		return false
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		if len(w.held) == 0 {
			return false // nothing to tell the type by
		}
		ct = http.DetectContentType(w.held)
	}
	if !w.c.cfg.Compresses(ct) {
		return false
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		return err == nil && n >= w.c.cfg.MinSize
	}
	return unknown || w.n >= w.c.cfg.MinSize
}
