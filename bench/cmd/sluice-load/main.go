// Command sluice-load generates HTTP load and reports per-request timings.
//
//	sluice-load -url http://127.0.0.1:8080/payload?size=27MiB\&cpu=200ms -n 50 -c 50 -digest -json run.jsonl -label airtable
//
// It prints a summary table (medians, p99 and max in ms; throughput in GB/s)
// and, with -json, writes one JSON line per request and a final summary line.
// The exit status is 1 if any request failed: no response, a body that ended
// early, a digest mismatch, or a status of 400 or more not listed in
// -allow-status (a replay that expects 503 refusals lists 503 there).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// headers collects repeated -H "Name: value" flags.
type headers http.Header

func (h headers) String() string { return "" }

func (h headers) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q is not \"Name: value\"", s)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg     load.Config
		jsonOut = fs.String("json", "", "write one JSON line per request and a summary line to this `file` (- for stdout)")
		label   = fs.String("label", "", "a `name` for this run in the table and JSON lines")
		allow   = fs.String("allow-status", "", "comma-separated `statuses` (e.g. 503,429) that do not count as failures")
		hdr     = headers{}
	)
	fs.StringVar(&cfg.URL, "url", "", "the `URL` to GET (required)")
	fs.IntVar(&cfg.Requests, "n", 50, "total number of requests (0 with -d: as many as fit)")
	fs.IntVar(&cfg.Concurrency, "c", 50, "requests in flight at once (a closed loop; -rate ignores it)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "an open loop: start this many `requests a second` on schedule, however many are still in flight, and time each from its scheduled start (0: a closed loop of -c)")
	fs.DurationVar(&cfg.Duration, "d", 0, "start requests for this `duration` (without -n: as many as fit)")
	fs.BoolVar(&cfg.Digest, "digest", false, "ask for Content-Digest: sha-256 and verify every 2xx body against it")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "bound each request to this `duration` (0: none)")
	fs.Var(hdr, "H", "add a request header `\"Name: value\"` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	nSet := false
	fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
	if cfg.Duration > 0 && !nSet {
		cfg.Requests = 0 // -d alone means "for this long", not "50 requests"
	}
	cfg.Header = http.Header(hdr)
	allowed, err := parseStatuses(*allow)
	if err != nil {
		fmt.Fprintln(stderr, "sluice-load:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := load.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintln(stderr, "sluice-load:", err)
		return 2
	}
	printTable(stdout, *label, cfg, rep.Summary)
	if *jsonOut != "" {
		if werr := writeJSON(stdout, *jsonOut, *label, rep); werr != nil {
			fmt.Fprintln(stderr, "sluice-load:", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "sluice-load:", err)
		return 1
	}
	if failed := failures(rep.Results, allowed); failed > 0 {
		fmt.Fprintf(stderr, "sluice-load: %d of %d requests failed (first: %s)\n", failed, len(rep.Results), firstFailure(rep.Results, allowed))
		return 1
	}
	return 0
}

func parseStatuses(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 100 || n > 599 {
			return nil, fmt.Errorf("-allow-status: %q is not an HTTP status; use e.g. 503,429", f)
		}
		out[n] = true
	}
	return out, nil
}

func failed(r load.Result, allowed map[int]bool) bool {
	return r.Err != "" || (r.Status >= 400 && !allowed[r.Status])
}

func failures(rs []load.Result, allowed map[int]bool) int {
	n := 0
	for _, r := range rs {
		if failed(r, allowed) {
			n++
		}
	}
	return n
}

func firstFailure(rs []load.Result, allowed map[int]bool) string {
	for _, r := range rs {
		if failed(r, allowed) {
			if r.Err != "" {
				return fmt.Sprintf("request %d: %s", r.Index, r.Err)
			}
			return fmt.Sprintf("request %d: status %d", r.Index, r.Status)
		}
	}
	return ""
}

// ms formats a duration in milliseconds for the table.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}
