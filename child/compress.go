package child

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzhttp"

	"github.com/sluicegw/sluice/child/digest"
	"github.com/sluicegw/sluice/ipc/settings"
)

// compressor applies a --compress setting to a worker's handler. Responses
// are compressed here, in the worker, rather than in the parent: the CPU it
// costs scales with the workers and is counted by their admission (it runs
// on the handler's goroutine, inside its Write), and fewer bytes cross the
// socket. gzhttp does the encoding and the GET rules (q-values, Vary,
// minimum size, a Content-Encoding the handler set, Content-Range, ETag);
// compressor adds what it leaves out: requests with a Range header pass
// through untouched, and a HEAD answer carries the Content-Encoding a GET
// would get (gzhttp never encodes HEAD, for an nginx bug of 2013).
type compressor struct {
	cfg settings.Compression
	gz  func(http.Handler) http.HandlerFunc
}

// etagSuffix marks an encoded response's ETag: a different representation
// needs a different entity tag (RFC 9110, 8.8.3), and gzhttp turns "-gzip"
// into "-zstd" for zstd.
const etagSuffix = "-gzip"

// newCompressor returns the compressor for cfg, or nil if cfg is off.
func newCompressor(cfg settings.Compression) (*compressor, error) {
	if len(cfg.Codings) == 0 {
		return nil, nil
	}
	for _, c := range cfg.Codings {
		if c != settings.CodingGzip && c != settings.CodingZstd {
			return nil, fmt.Errorf("child: compression coding %q is not one a worker can apply; use %s and/or %s", c, settings.CodingZstd, settings.CodingGzip)
		}
	}
	has := func(c string) bool { return slices.Contains(cfg.Codings, c) }
	gz, err := gzhttp.NewWrapper(
		gzhttp.EnableGzip(has(settings.CodingGzip)),
		gzhttp.EnableZstd(has(settings.CodingZstd)),
		gzhttp.PreferZstd(cfg.Codings[0] == settings.CodingZstd),
		gzhttp.MinSize(int(cfg.MinSize)),
		gzhttp.ContentTypeFilter(cfg.Compresses),
		gzhttp.SuffixETag(etagSuffix),
	)
	if err != nil {
		return nil, fmt.Errorf("child: compression %v: %w", cfg.Codings, err)
	}
	return &compressor{cfg: cfg, gz: gz}, nil
}

// wrap returns h with compression, inside a digest.Handler so that a
// requested Content-Digest covers the encoded bytes as sent (RFC 9530,
// section 2); a digest.Handler inside h then passes through.
func (c *compressor) wrap(h http.Handler) http.Handler {
	return digest.Handler(&compressHandler{c: c, plain: h, gz: c.gz(headFirst{h})})
}

// headFirst gives its handler, inside gzhttp, a writer whose Flush sends the
// head even when no body byte was written yet: gzhttp's would send nothing
// until it has bytes to decide by, and a handler that flushes its head and
// then waits (for an event, for the client) would hold its client waiting.
// With nothing to tell the type and size by, such a response is not
// encoded.
type headFirst struct{ h http.Handler }

func (f headFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.h.ServeHTTP(&headFirstWriter{ResponseWriter: w}, r)
}

type headFirstWriter struct {
	http.ResponseWriter // gzhttp's
	wrote               bool
}

func (w *headFirstWriter) Write(p []byte) (int, error) {
	w.wrote = w.wrote || len(p) > 0
	return w.ResponseWriter.Write(p)
}

// FlushError decides for identity if nothing was written, which makes
// gzhttp send the head, then flushes.
func (w *headFirstWriter) FlushError() error {
	if !w.wrote {
		w.wrote = true
		w.Header().Set(gzhttp.HeaderNoCompression, "1") // gzhttp removes it
		if _, err := w.ResponseWriter.Write(nil); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *headFirstWriter) Flush() { _ = w.FlushError() }

// Unwrap gives http.ResponseController gzhttp's writer.
func (w *headFirstWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type compressHandler struct {
	c     *compressor
	plain http.Handler // the handler itself
	gz    http.Handler // the handler inside gzhttp
}

// varyAcceptEncoding is the Vary value of every response, shared so that
// the usual request (no Accept-Encoding) costs no allocation: it has length
// and capacity 1, so an Add to it copies rather than writes into it.
var varyAcceptEncoding = []string{"Accept-Encoding"}[:1:1]

func (h *compressHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodHead:
		addVary(w.Header())
		hw := &headWriter{ResponseWriter: w, c: h.c, coding: h.c.coding(r)}
		h.plain.ServeHTTP(hw, r)
		hw.finish()
	case len(r.Header["Range"]) > 0 || len(r.Header["Accept-Encoding"]) == 0:
		// A range is of the identity bytes (a 206 of compressed ones
		// would be ranges of something no client asked for); without an
		// Accept-Encoding there is nothing to choose, and gzhttp's own
		// pass-through costs an allocation on the small-response path.
		addVary(w.Header())
		h.plain.ServeHTTP(w, r)
	default:
		h.gz.ServeHTTP(w, r)
	}
}

func addVary(h http.Header) {
	if len(h["Vary"]) == 0 {
		h["Vary"] = varyAcceptEncoding
		return
	}
	h.Add("Vary", "Accept-Encoding")
}

// coding is what gzhttp chooses for a GET with r's Accept-Encoding: the
// coding of highest q-value among those configured, the first configured on
// a tie, none for q=0 or an unlisted one ("*" is not taken to mean either,
// as gzhttp does by default). "" means identity.
func (c *compressor) coding(r *http.Request) string {
	ae := r.Header.Get("Accept-Encoding")
	best, bestQ := "", 0.0
	for _, coding := range c.cfg.Codings {
		if q := qValue(ae, coding); q > bestQ {
			best, bestQ = coding, q
		}
	}
	return best
}

// qValue is the q-value that the Accept-Encoding value ae gives coding,
// parsed leniently as gzhttp does (an unreadable q counts as 0).
func qValue(ae, coding string) float64 {
	for part := range strings.SplitSeq(ae, ",") {
		name, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			p = strings.TrimSpace(p)
			if len(p) >= 2 && strings.EqualFold(p[:2], "q=") {
				q, _ = strconv.ParseFloat(p[2:], 64)
			}
		}
		return min(max(q, 0), 1)
	}
	return 0
}
