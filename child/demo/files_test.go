package demo

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilesStayInsideRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	must(t, os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "a.txt"), []byte("hello, file\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "sub", "b.bin"), []byte{1, 2, 3}, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644))
	must(t, os.Symlink("../secret.txt", filepath.Join(root, "escape")))
	must(t, os.Symlink("a.txt", filepath.Join(root, "inside")))

	srv := httptest.NewServer(New(root))
	defer srv.Close()
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/files/a.txt", 200, "hello, file\n"},
		{"/files/inside", 200, "hello, file\n"},
		{"/files/sub/b.bin", 200, "\x01\x02\x03"},
		{"/files/sub/../a.txt", 200, "hello, file\n"},
		{"/files/nope.txt", 404, `"nope.txt" not found`},
		{"/files/sub", 403, "not a regular file"},
		{"/files/", 404, "no file named"},
		{"/files/escape", 403, "refused"},
		{"/files/../secret.txt", 400, "leaves the files root"},
		{"/files/%2e%2e/secret.txt", 400, "leaves the files root"},
		{"/files/sub/../../secret.txt", 400, "leaves the files root"},
		{"/files//etc/passwd", 400, "leaves the files root"},
	} {
		resp, body := get(t, "GET", srv.URL+tc.path)
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s: %d %q; want %d containing %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if resp.StatusCode == 200 && resp.ContentLength != int64(len(tc.body)) {
			t.Errorf("GET %s: Content-Length %d; want %d", tc.path, resp.ContentLength, len(tc.body))
		}
	}
}

func TestFilesDisabledWithoutRoot(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()
	resp, body := get(t, "GET", srv.URL+"/files/a.txt")
	if resp.StatusCode != 404 || !strings.Contains(string(body), "disabled") {
		t.Fatalf("GET /files/a.txt without root: %d %q", resp.StatusCode, body)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFilesServesAPrecompressedTwin(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("plain text"), 0o644)
	os.WriteFile(filepath.Join(root, "a.txt.gz"), []byte("pretend gzip"), 0o644)
	h := New(root)
	for ae, want := range map[string]string{"": "plain text", "gzip": "pretend gzip", "br, gzip;q=0.5": "pretend gzip", "gzip;q=0": "plain text", "zstd": "plain text"} {
		req := httptest.NewRequest("GET", "/files/a.txt", nil)
		req.Header.Set("Accept-Encoding", ae)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		ce := rec.Header().Get("Content-Encoding")
		if rec.Body.String() != want || (ce == "gzip") != (want == "pretend gzip") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("Accept-Encoding %q: %q with Content-Encoding %q, Content-Type %q; want %q", ae, rec.Body, ce, rec.Header().Get("Content-Type"), want)
		}
	}
}
