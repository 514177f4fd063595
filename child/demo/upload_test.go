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
		{"POST", "/payload?size=1", http.StatusMethodNotAllowed, "GET and HEAD"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.url, strings.NewReader("x")))
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("%s %s: %d %q; want %d saying %q", c.method, c.url, rec.Code, rec.Body, c.code, c.says)
		}
	}
}
