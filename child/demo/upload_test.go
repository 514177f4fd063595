package demo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestUploadAnswersSizeAndSHA256(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()
	body, _ := io.ReadAll(Payload(3, 300_000))
	sum := sha256.Sum256(body)
	want := UploadResult{Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}

	resp, err := http.Post(srv.URL+"/upload", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := string(text); resp.StatusCode != 200 || got != fmt.Sprintf("%d %s\n", want.Size, want.SHA256) {
		t.Fatalf("POST /upload: %d %q; want %d %s", resp.StatusCode, got, want.Size, want.SHA256)
	}

	req, _ := http.NewRequest("POST", srv.URL+"/upload?rate=1MiB", io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got UploadResult
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got != want || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST /upload?rate=1MiB as JSON: %+v, %v (%s); want %+v", got, err, resp.Header.Get("Content-Type"), want)
	}
}

func TestUploadRefusals(t *testing.T) {
	h := New("")
	for _, c := range []struct {
		method, url string
		code        int
		says        string
	}{
		{"GET", "/upload", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/upload?rate=0", http.StatusBadRequest, "rate"},
		{"POST", "/upload?rate=fast", http.StatusBadRequest, "rate"},
		{"POST", "/upload?max=lots", http.StatusBadRequest, "max"},
		{"POST", "/upload?max=0", http.StatusRequestEntityTooLarge, "larger than max=0"},
		{"POST", "/payload?size=1", http.StatusMethodNotAllowed, "GET and HEAD"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.url, strings.NewReader("x")))
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("%s %s: %d %q; want %d saying %q", c.method, c.url, rec.Code, rec.Body, c.code, c.says)
		}
	}
}

// TestUploadMaxRefusesUnread: a body over max is refused before a byte of
// it is read; one within it is read and summed.
func TestUploadMaxRefusesUnread(t *testing.T) {
	h := New("")
	body := &readCounter{r: strings.NewReader("12345")}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/upload?max=4", body)
	req.ContentLength = 5
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || body.reads != 0 {
		t.Fatalf("5 bytes with max=4: %d after %d reads; want 413 with none", rec.Code, body.reads)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/upload?max=5", strings.NewReader("12345")))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "5 ") {
		t.Fatalf("5 bytes with max=5: %d %q", rec.Code, rec.Body)
	}
}

type readCounter struct {
	r     io.Reader
	reads int
}

func (c *readCounter) Read(p []byte) (int, error) { c.reads++; return c.r.Read(p) }
