package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
)

// rawClient neither asks for a coding by itself nor decodes one, so that a
// test sees the bytes as sent.
func rawClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// rawFetch sends method url with the header fields hdr (name, value, ...)
// and returns the response and its undecoded body.
func rawFetch(t *testing.T, c *http.Client, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, body
}

// decoder is klauspost's incremental decoder of coding over r.
func decoder(t *testing.T, coding string, r io.Reader) io.Reader {
	t.Helper()
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		return zr
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	return r
}

func TestEndToEndCompression(t *testing.T) {
	root := t.TempDir()
	text := bytes.Repeat([]byte("a line of a report that compresses well\n"), 5000)
	if err := os.WriteFile(filepath.Join(root, "report.txt"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	var pre bytes.Buffer
	zw := gzip.NewWriter(&pre)
	zw.Write(text)
	zw.Close()
	if err := os.WriteFile(filepath.Join(root, "report.txt.gz"), pre.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "notes.txt"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, 1, "--root", root)
	c := rawClient(t)

	t.Run("decodes to the identity bytes", func(t *testing.T) {
		url := g.addr + "/export?rows=20000"
		_, identity := rawFetch(t, c, "GET", url)
		for _, coding := range []string{"gzip", "zstd"} {
			resp, body := rawFetch(t, c, "GET", url, "Accept-Encoding", coding, digest.WantField, digest.WantSHA256)
			if got := resp.Header.Get("Content-Encoding"); got != coding {
				t.Fatalf("%s: Content-Encoding %q", coding, got)
			}
			decoded, err := io.ReadAll(decoder(t, coding, bytes.NewReader(body)))
			if err != nil || !bytes.Equal(decoded, identity) {
				t.Fatalf("%s: decoded %d bytes (%v); want the %d identity bytes", coding, len(decoded), err, len(identity))
			}
			if ratio := float64(len(identity)) / float64(len(body)); ratio < 4 {
				t.Errorf("%s: ratio %.1f; want at least 4", coding, ratio)
			}
			if err := digest.Verify(resp.Trailer.Get(digest.Field), body); err != nil {
				t.Errorf("%s: Content-Digest %q does not cover the encoded bytes sent: %v", coding, resp.Trailer.Get(digest.Field), err)
			}
			if got := resp.Header.Values("Vary"); len(got) != 1 || got[0] != "Accept-Encoding" {
				t.Errorf("%s: Vary %q", coding, got)
			}
		}
	})

	t.Run("q-values and HEAD", func(t *testing.T) {
		for ae, want := range map[string]string{"": "", "gzip;q=0": "", "gzip;q=0, zstd;q=0.5": "zstd", "zstd;q=0.2, gzip": "gzip", "zstd, gzip": "zstd"} {
			for _, method := range []string{"GET", "HEAD"} {
				resp, _ := rawFetch(t, c, method, g.addr+"/export?rows=500", "Accept-Encoding", ae)
				if got := resp.Header.Get("Content-Encoding"); got != want {
					t.Errorf("%s, Accept-Encoding %q: Content-Encoding %q; want %q", method, ae, got, want)
				}
				if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
					t.Errorf("%s, Accept-Encoding %q: Vary %q", method, ae, got)
				}
			}
		}
		// Incompressible: the payload is random bytes.
		resp, _ := rawFetch(t, c, "GET", g.addr+"/payload?size=1MiB", "Accept-Encoding", "zstd, gzip")
		if got := resp.Header.Get("Content-Encoding"); got != "" {
			t.Errorf("octet-stream: Content-Encoding %q; want none", got)
		}
	})

	t.Run("a range is identity", func(t *testing.T) {
		resp, body := rawFetch(t, c, "GET", g.addr+"/files/notes.txt", "Accept-Encoding", "gzip, zstd", "Range", "bytes=100-199")
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, text[100:200]) {
			t.Fatalf("range: %d, Content-Encoding %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Encoding"), len(body))
		}
	})

	t.Run("the handler's encoding is left alone", func(t *testing.T) {
		for _, ae := range []string{"gzip", "zstd, gzip"} {
			resp, body := rawFetch(t, c, "GET", g.addr+"/files/report.txt", "Accept-Encoding", ae)
			if got := resp.Header.Values("Content-Encoding"); len(got) != 1 || got[0] != "gzip" || !bytes.Equal(body, pre.Bytes()) {
				t.Errorf("Accept-Encoding %q: Content-Encoding %q, %d bytes; want the precompressed %d bytes", ae, got, len(body), pre.Len())
			}
		}
	})

	t.Run("every flush decodes at once", func(t *testing.T) {
		for _, coding := range []string{"gzip", "zstd"} {
			readPaced(t, c, g.addr, coding)
		}
	})
}

// readPaced reads the first rows of an endless export that flushes a row
// every 100 ms, through an incremental decoder. Unflushed, an encoder emits
// nothing until it holds tens of KiB, minutes of rows at that pace: the
// deadline would end the test first.
func readPaced(t *testing.T, c *http.Client, base, coding string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/export?rows=100000000&pace=100ms", nil)
	req.Header.Set("Accept-Encoding", coding)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("Content-Encoding"); got != coding {
		t.Fatalf("Content-Encoding %q; want %q", got, coding)
	}
	lines := bufio.NewReader(decoder(t, coding, resp.Body))
	if l, err := lines.ReadString('\n'); err != nil || l != "[\n" {
		t.Fatalf("%s: first line %q, %v", coding, l, err)
	}
	for id := range int64(5) {
		l, err := lines.ReadString('\n')
		var rec demo.Record
		if err != nil || json.Unmarshal([]byte(strings.TrimPrefix(l, ",")), &rec) != nil || rec != demo.MakeRecord(id) {
			t.Fatalf("%s: row %d is %q (%v)", coding, id, l, err)
		}
	}
}
