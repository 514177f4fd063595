package load_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

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

// With Rate set the load is open-loop: requests are started on a fixed
// schedule however slowly the server answers, and their times are measured
// from the schedule. Here 20 requests a second for half a second, against a
// handler that takes 100 ms and says when to retry.
func ExampleRun_openLoop() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		w.Header().Set("Retry-After", "2")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	rep, err := load.Run(context.Background(), load.Config{
		URL:      srv.URL,
		Rate:     20,
		Duration: 500 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("requests:", rep.Summary.Requests, "503s:", rep.Summary.Statuses[503])
	r := rep.Results[3]
	fmt.Println("request 3 scheduled at:", r.Start, "Retry-After:", r.RetryAfter)
	fmt.Println("latency includes the generator's lag:", r.TTLB >= 100*time.Millisecond+r.Lag)
	// Output:
	// requests: 10 503s: 10
	// request 3 scheduled at: 150ms Retry-After: 2
	// latency includes the generator's lag: true
}
