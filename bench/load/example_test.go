package load_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/sluicegw/sluice/bench/load"
	"github.com/sluicegw/sluice/child/digest"
)

// Run fetches a URL a number of times at a given concurrency and reports
// on every request; with Digest, each body is checked against its
// Content-Digest trailer. Here the server is a local httptest one serving
// 100 KB with digests.
func ExampleRun() {
	body := strings.Repeat("sluice ", 100_000/7)
	srv := httptest.NewServer(digest.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	})))
	defer srv.Close()

	rep, err := load.Run(context.Background(), load.Config{
		URL:         srv.URL,
		Requests:    8,
		Concurrency: 4,
		Digest:      true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := rep.Summary
	fmt.Println("requests:", s.Requests, "errors:", s.Errors, "200s:", s.Statuses[200])
	fmt.Println("bytes:", s.Bytes)
	checked := 0
	for _, r := range rep.Results {
		if r.DigestOK != nil && *r.DigestOK {
			checked++
		}
	}
	fmt.Println("digests verified:", checked)
	fmt.Println("TTFB <= TTLB:", s.TTLB.Median >= s.TTFB.Median)
	// Output:
	// requests: 8 errors: 0 200s: 8
	// bytes: 799960
	// digests verified: 8
	// TTFB <= TTLB: true
}
