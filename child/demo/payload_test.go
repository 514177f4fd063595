package demo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"testing/iotest"
	"time"
)

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return b
}

// get fetches url from the test server and returns the response with its
// body read.
func get(t *testing.T, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	return resp, readAll(t, resp.Body)
}

func TestPayloadReaderIsIndependentOfReadSizes(t *testing.T) {
	const size = 3*blockSize + 12345
	whole := readAll(t, Payload(9, size))
	if len(whole) != size {
		t.Fatalf("Payload(9, %d) gave %d bytes", size, len(whole))
	}
	if err := iotest.TestReader(Payload(9, size), whole); err != nil {
		t.Fatalf("iotest.TestReader: %v", err)
	}
	odd := readAll(t, bufioReader{Payload(9, size), 7777})
	if !bytes.Equal(odd, whole) {
		t.Fatal("reading in 7777-byte pieces gave different bytes than one ReadAll")
	}
	if other := readAll(t, Payload(10, size)); bytes.Equal(other, whole) {
		t.Fatal("seeds 9 and 10 gave the same payload")
	}
	if a, b := whole[:blockSize], whole[blockSize:2*blockSize]; bytes.Equal(a, b) {
		t.Fatal("blocks 0 and 1 are equal: the per-block key has no effect")
	}
}

// bufioReader reads from r at most n bytes at a time.
type bufioReader struct {
	r io.Reader
	n int
}

func (b bufioReader) Read(p []byte) (int, error) { return b.r.Read(p[:min(len(p), b.n)]) }

func TestPayloadRouteServesExactBytes(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()
	for _, tc := range []struct {
		size string
		n    int64
		seed uint64
	}{
		{"0", 0, 0},
		{"1", 1, 0},
		{"4096", 4096, 3},
		{"65537", 65537, 3},
		{"3MiB", 3 << 20, 42},
		{"1MB", 1_000_000, 18446744073709551615},
	} {
		url := srv.URL + "/payload?size=" + tc.size + "&seed=" + strconv.FormatUint(tc.seed, 10)
		resp, body := get(t, "GET", url)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, body)
		}
		if resp.ContentLength != tc.n || int64(len(body)) != tc.n {
			t.Errorf("GET %s: Content-Length %d, body %d bytes; want %d", url, resp.ContentLength, len(body), tc.n)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("GET %s: Content-Type %q", url, ct)
		}
		if want := readAll(t, Payload(tc.seed, tc.n)); !bytes.Equal(body, want) {
			t.Errorf("GET %s: body differs from Payload(%d, %d)", url, tc.seed, tc.n)
		}
	}
}

func TestPayloadHeadHasLengthButNoBody(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()
	resp, body := get(t, "HEAD", srv.URL+"/payload?size=1GiB&cpu=10m&wait=10m")
	if resp.StatusCode != 200 || resp.ContentLength != 1<<30 || len(body) != 0 {
		t.Fatalf("HEAD: status %d, Content-Length %d, %d body bytes", resp.StatusCode, resp.ContentLength, len(body))
	}
}

func TestPayloadCPUIsSpentOnTheCPU(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()
	const want = 150 * time.Millisecond
	before := processCPU(t)
	resp, _ := get(t, "GET", srv.URL+"/payload?size=10&cpu=150ms")
	spent := processCPU(t) - before
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got, err := time.ParseDuration(resp.Header.Get(CPUTimeHeader))
	if err != nil || got < want {
		t.Errorf("%s = %q (%v); want at least %v", CPUTimeHeader, resp.Header.Get(CPUTimeHeader), err, want)
	}
	if spent < want {
		t.Errorf("process CPU time grew by %v during the request; want at least %v", spent, want)
	}
}

func TestPayloadStopsWhenClientLeaves(t *testing.T) {
	srv := httptest.NewServer(New(""))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/payload?size=1TiB", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatalf("reading the first MiB: %v", err)
	}
	cancel()
	resp.Body.Close()
	// Close waits for every handler to return: it only returns if the
	// handler noticed that the client left, long before 1 TiB.
	srv.Close()
}
