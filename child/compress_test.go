package child

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
	"github.com/sluicegw/sluice/ipc/settings"
)

// compressed returns h under the compression spec.
func compressed(t *testing.T, spec string, h http.Handler) http.Handler {
	t.Helper()
	cfg, err := settings.ParseCompression(spec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCompressor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.wrap(h)
}

// serve runs method url on h with the header fields hdr (name, value, ...)
// and returns the response with its body as the handler wrote it.
func serve(h http.Handler, method, url string, hdr ...string) (*http.Response, []byte) {
	req := httptest.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// decode undoes coding with klauspost's own decoders.
func decode(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		return b
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", coding, err)
	}
	return out
}

func TestCompressedExportDecodesToTheIdentityBytes(t *testing.T) {
	h := compressed(t, "", demo.New(""))
	url := "/export?rows=20000"
	_, identity := serve(h, "GET", url)
	for _, coding := range []string{"gzip", "zstd"} {
		resp, body := serve(h, "GET", url, "Accept-Encoding", coding)
		if got := resp.Header.Get("Content-Encoding"); got != coding {
			t.Fatalf("Accept-Encoding %s: Content-Encoding %q", coding, got)
		}
		if !bytes.Equal(decode(t, coding, body), identity) {
			t.Fatalf("%s: the decoded export differs from the identity one (%d bytes)", coding, len(identity))
		}
		if ratio := float64(len(identity)) / float64(len(body)); ratio < 4 {
			t.Errorf("%s: the export shrank only %.1f times (%d to %d bytes); want at least 4", coding, ratio, len(identity), len(body))
		}
	}
}

func TestCompressNegotiation(t *testing.T) {
	h := compressed(t, "", demo.New(""))
	for ae, want := range map[string]string{
		"":                        "",
		"gzip":                    "gzip",
		"zstd":                    "zstd",
		"gzip, zstd":              "zstd", // a tie goes to the first configured
		"gzip;q=1, zstd;q=0.5":    "gzip",
		"gzip;q=0":                "",
		"gzip;q=0, zstd":          "zstd",
		"zstd;q=0, gzip;q=0.1":    "gzip",
		"identity":                "",
		"br":                      "",
		"*":                       "",
		"GZIP;Q=0.8, zstd;q=0.9":  "zstd",
		"gzip;q=oops, zstd;q=0.1": "zstd",
	} {
		for _, method := range []string{"GET", "HEAD"} {
			resp, _ := serve(h, method, "/export?rows=100", "Accept-Encoding", ae)
			if got := resp.Header.Get("Content-Encoding"); got != want {
				t.Errorf("%s with Accept-Encoding %q: Content-Encoding %q; want %q", method, ae, got, want)
			}
			if got := resp.Header.Values("Vary"); len(got) != 1 || got[0] != "Accept-Encoding" {
				t.Errorf("%s with Accept-Encoding %q: Vary %q; want Accept-Encoding", method, ae, got)
			}
		}
	}
	// A GET of unknown length under the minimum stays identity, as does
	// every incompressible type, whatever is accepted.
	for _, url := range []string{"/export?rows=1", "/payload?size=64KiB"} {
		resp, _ := serve(h, "GET", url, "Accept-Encoding", "gzip, zstd")
		if got := resp.Header.Get("Content-Encoding"); got != "" {
			t.Errorf("GET %s: Content-Encoding %q; want none", url, got)
		}
	}
	gz := compressed(t, "gzip,zstd;min=4KiB", demo.New(""))
	resp, _ := serve(gz, "GET", "/export?rows=100", "Accept-Encoding", "zstd, gzip")
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("with gzip first, a tie got %q; want gzip", got)
	}
}

func TestCompressFilesRangesHeadAndETags(t *testing.T) {
	root := t.TempDir()
	text := bytes.Repeat([]byte("a line of a text file that compresses well\n"), 2000)
	if err := os.WriteFile(filepath.Join(root, "report.txt"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	h := compressed(t, "", demo.New(root))
	url := "/files/report.txt"
	plain, _ := serve(h, "GET", url)
	resp, body := serve(h, "GET", url, "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(decode(t, "gzip", body), text) {
		t.Fatalf("GET a text file with gzip: Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}
	if resp.Header.Get("Accept-Ranges") != "" {
		t.Errorf("an encoded response offers ranges (%q) of bytes it does not send", resp.Header.Get("Accept-Ranges"))
	}
	head, _ := serve(h, "HEAD", url, "Accept-Encoding", "gzip")
	// The encoded length is known only by encoding, which a HEAD does
	// not: it may omit Content-Length (RFC 9110, 9.3.2), and does.
	for _, k := range []string{"Content-Encoding", "Content-Type", "Vary", "Accept-Ranges"} {
		if g, h := resp.Header.Get(k), head.Header.Get(k); g != h {
			t.Errorf("%s: GET says %q, HEAD says %q", k, g, h)
		}
	}
	head, _ = serve(h, "HEAD", url)
	if got, want := head.Header.Get("Content-Length"), plain.Header.Get("Content-Length"); got != want || head.Header.Get("Content-Encoding") != "" {
		t.Errorf("an identity HEAD says Content-Length %q, Content-Encoding %q; want %q and none", got, head.Header.Get("Content-Encoding"), want)
	}

	// A range is of the identity bytes, and is never encoded.
	resp, body = serve(h, "GET", url, "Accept-Encoding", "gzip, zstd", "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, text[10:20]) {
		t.Fatalf("a range: %d, Content-Encoding %q, %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}

	// An entity tag names one representation: the encoded one gets its own.
	tagged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Content-Type", "text/plain")
		w.Write(text)
	})
	ts := compressed(t, "", tagged)
	for coding, want := range map[string]string{"": `"v1"`, "gzip": `"v1-gzip"`, "zstd": `"v1-zstd"`} {
		for _, method := range []string{"GET", "HEAD"} {
			resp, _ := serve(ts, method, "/", "Accept-Encoding", coding)
			if got := resp.Header.Get("Etag"); got != want {
				t.Errorf("%s with %q: ETag %s; want %s", method, coding, got, want)
			}
		}
	}
}

func TestCompressLeavesAHandlersEncodingAlone(t *testing.T) {
	text := bytes.Repeat([]byte("already encoded by the handler\n"), 1000)
	var pre bytes.Buffer
	zw := gzip.NewWriter(&pre)
	zw.Write(text)
	zw.Close()
	h := compressed(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(pre.Bytes())
	}))
	for _, ae := range []string{"gzip", "zstd", "zstd, gzip"} {
		for _, method := range []string{"GET", "HEAD"} {
			resp, body := serve(h, method, "/", "Accept-Encoding", ae)
			if got := resp.Header.Values("Content-Encoding"); len(got) != 1 || got[0] != "gzip" {
				t.Errorf("%s with %q: Content-Encoding %q; want the handler's gzip alone", method, ae, got)
			}
			if method == "GET" && !bytes.Equal(body, pre.Bytes()) {
				t.Errorf("%s with %q: the handler's gzip bytes were changed", method, ae)
			}
		}
	}
}

func TestCompressedDigestCoversTheEncodedBytes(t *testing.T) {
	// The handler digests by itself too, as the demo worker does: the
	// outer digest, over what is sent, is the one that counts.
	h := compressed(t, "", digest.Handler(demo.New("")))
	for _, coding := range []string{"", "gzip", "zstd"} {
		resp, body := serve(h, "GET", "/export?rows=5000", "Accept-Encoding", coding, digest.WantField, digest.WantSHA256)
		if resp.Header.Get("Content-Encoding") != coding {
			t.Fatalf("%q: Content-Encoding %q", coding, resp.Header.Get("Content-Encoding"))
		}
		if got := resp.Trailer.Values(digest.Field); len(got) != 1 {
			t.Fatalf("%q: Content-Digest trailers %q; want one", coding, got)
		}
		if err := digest.Verify(resp.Trailer.Get(digest.Field), body); err != nil {
			t.Errorf("%q: the digest does not cover the bytes sent: %v", coding, err)
		}
	}
}

func TestCompressFlushedHeadLeavesAtOnce(t *testing.T) {
	gotHead := make(chan struct{})
	srv := httptest.NewServer(compressed(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.(http.Flusher).Flush()
		select {
		case <-gotHead:
		case <-r.Context().Done():
			return
		}
		w.Write(bytes.Repeat([]byte(`{"later":true}`), 200))
	})))
	defer srv.Close()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, srv.URL, nil)
		req.Header.Set("Accept-Encoding", "zstd, gzip")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: %d, Content-Encoding %q; want 202 identity, the head flushed before any body", method, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		if method == "GET" {
			close(gotHead)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if method == "GET" && (err != nil || len(body) != 200*len(`{"later":true}`)) {
			t.Errorf("GET: %d bytes after the head, %v", len(body), err)
		}
	}
}
