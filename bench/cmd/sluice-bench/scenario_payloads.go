package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicegw/sluice/bench/procstat"
	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
)

// The payloads scenarios: compression of a large export, and a large upload
// against the minimal relay run the other way (upload_relay.go).
const (
	exportRows   = 1_000_000
	uploadSize   = 1 << 30
	uploadSeed   = 11
	targetUpload = 0.70 // sluice's median GB/s over the reverse relay's, at least
)

func init() {
	scenarios["export"] = runExport
	scenarios["upload"] = runUpload
}

// exportRow is one export measurement (Kind "round") or a coding's medians
// (Kind "summary").
type exportRow struct {
	Scenario  string        `json:"scenario"`
	Kind      string        `json:"kind"`
	Coding    string        `json:"coding"`
	Round     int           `json:"round,omitempty"`
	WireBytes int64         `json:"wire_bytes"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	WorkerCPU time.Duration `json:"worker_cpu_ns"`
	*session  `json:",omitempty"`
}

// runExport GETs /export?rows=1000000 from a one-worker gateway with each
// coding in turn, -rounds times, and reports the bytes on the wire, the wall
// time, the throughput and the worker's CPU seconds (from /proc, around the
// request), each as a median. Every body is checked against its
// Content-Digest, which covers the bytes as sent.
func runExport(ctx context.Context, e *env) (bool, error) {
	codings := []string{"identity", "gzip", "zstd"}
	runs := map[string][]exportRow{}
	args := append([]string{"--workers", "1"}, e.opt.gatewayArgs...)
	sess, err := e.withGateway(ctx, "export", args, func(g *gateway) error {
		st, err := g.status(ctx)
		if err != nil || len(st.Workers) == 0 {
			return fmt.Errorf("reading the worker's pid from /status: %v", err)
		}
		pid := st.Workers[0].PID
		for r := 1; r <= max(1, e.opt.rounds); r++ {
			for _, coding := range codings {
				fmt.Fprintf(e.log, "export round %d: %s ... ", r, coding)
				cpu0, err := procstat.CPUTime(pid)
				if err != nil {
					return err
				}
				n, el, err := fetchCoded(ctx, "http://"+g.addr+fmt.Sprintf("/export?rows=%d", exportRows), coding, e.opt.timeout)
				if err != nil {
					fmt.Fprintln(e.log)
					return err
				}
				cpu1, err := procstat.CPUTime(pid)
				if err != nil {
					return err
				}
				row := exportRow{Scenario: "export", Kind: "round", Coding: coding, Round: r, WireBytes: n, Elapsed: el, WorkerCPU: cpu1 - cpu0}
				e.report.write(row)
				runs[coding] = append(runs[coding], row)
				fmt.Fprintf(e.log, "%s in %.2fs\n", humanBytes(n), el.Seconds())
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	fmt.Fprintf(e.out, "export: GET /export?rows=%d through --workers 1, medians of %d rounds\n", exportRows, max(1, e.opt.rounds))
	tw := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "coding\twire MB\tratio\twall s\twire MB/s\trows/s\tworker CPU s\t")
	identity := float64(medianOf(runs["identity"], func(r exportRow) int64 { return r.WireBytes }))
	for _, coding := range codings {
		rs := runs[coding]
		wire := medianOf(rs, func(r exportRow) int64 { return r.WireBytes })
		el := time.Duration(medianOf(rs, func(r exportRow) int64 { return int64(r.Elapsed) }))
		cpu := time.Duration(medianOf(rs, func(r exportRow) int64 { return int64(r.WorkerCPU) }))
		sum := exportRow{Scenario: "export", Kind: "summary", Coding: coding, WireBytes: wire, Elapsed: el, WorkerCPU: cpu, session: &sess}
		e.report.write(sum)
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f×\t%.2f\t%.0f\t%.0f\t%.2f\t\n", coding, float64(wire)/1e6, identity/float64(wire),
			el.Seconds(), float64(wire)/1e6/el.Seconds(), exportRows/el.Seconds(), cpu.Seconds())
	}
	tw.Flush()
	printNotes(e.out, "export", nil, "", sess)
	fmt.Fprintln(e.out)
	return true, nil
}

// medianOf is the median of f over rows.
func medianOf(rows []exportRow, f func(exportRow) int64) int64 {
	v := make([]int64, len(rows))
	for i, r := range rows {
		v[i] = f(r)
	}
	return median(v)
}

// fetchCoded GETs u asking for coding ("identity" asks for none) with its
// digest, reads the body as sent, undecoded, and returns its size and the
// time from the request to its last byte. A status other than 200, another
// Content-Encoding or a body its Content-Digest does not match is an error.
func fetchCoded(ctx context.Context, u, coding string, timeout time.Duration) (int64, time.Duration, error) {
	start := time.Now()
	resp, done, err := once(ctx, timeout, http.MethodGet, u, nil, "Accept-Encoding", coding, digest.WantField, digest.WantSHA256)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	want := coding
	if coding == "identity" {
		want = ""
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != want {
		return 0, 0, fmt.Errorf("GET %s with Accept-Encoding %s: %s, Content-Encoding %q", u, coding, resp.Status, resp.Header.Get("Content-Encoding"))
	}
	v := digest.NewVerifier()
	n, err := io.CopyBuffer(v, resp.Body, make([]byte, relayReadBuffer))
	el := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: body ended after %d bytes: %w", u, n, err)
	}
	if err := v.Check(resp.Trailer.Get(digest.Field)); err != nil {
		return 0, 0, fmt.Errorf("GET %s with %s: %w", u, coding, err)
	}
	return n, el, nil
}

// runUpload, whose rows are the relay scenario's, POSTs 1 GiB to /upload through a one-worker gateway and sends
// the same bytes through the minimal relay the other way (client –TCP→
// relay –Unix socket→ a sink hashing SHA-256, as /upload does), alternating
// -relay-rounds times; both answers must be the body's SHA-256.
func runUpload(ctx context.Context, e *env) (bool, error) {
	sum := sha256.New()
	io.Copy(sum, demo.Payload(uploadSeed, uploadSize))
	want := hex.EncodeToString(sum.Sum(nil))
	var sl, base []float64
	args := append([]string{"--workers", "1"}, e.opt.gatewayArgs...)
	sess, err := e.withGateway(ctx, "upload", args, func(g *gateway) error {
		for r := 1; r <= e.opt.relayRounds; r++ {
			fmt.Fprintf(e.log, "upload round %d/%d: sluice ... ", r, e.opt.relayRounds)
			el, err := postUpload(ctx, "http://"+g.addr+"/upload", want, e.opt.timeout)
			if err != nil {
				fmt.Fprintln(e.log)
				return err
			}
			row := relayRow{Scenario: "upload", Kind: "round", Side: "sluice", Round: r, Bytes: uploadSize, Elapsed: el, GBps: gbps(uploadSize, el)}
			e.report.write(row)
			sl = append(sl, row.GBps)
			fmt.Fprintf(e.log, "%.2f GB/s; reverse relay ... ", row.GBps)
			el, err = reverseRelay(ctx, want)
			if err != nil {
				fmt.Fprintln(e.log)
				return err
			}
			row = relayRow{Scenario: "upload", Kind: "round", Side: "baseline", Round: r, Bytes: uploadSize, Elapsed: el, GBps: gbps(uploadSize, el)}
			e.report.write(row)
			base = append(base, row.GBps)
			fmt.Fprintf(e.log, "%.2f GB/s\n", row.GBps)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	s := relayRow{Scenario: "upload", Kind: "summary", SluiceGBps: median(sl), BaselineGBps: median(base), session: &sess}
	if s.BaselineGBps > 0 {
		s.Ratio = s.SluiceGBps / s.BaselineGBps
	}
	s.Pass = s.Ratio >= targetUpload
	e.report.write(s)
	fmt.Fprintf(e.out, "upload: POST /upload of %s through --workers 1 against the minimal relay reversed (sink hashing SHA-256), medians of %d\n", humanBytes(uploadSize), len(sl))
	fmt.Fprintf(e.out, "  sluice %.2f GB/s, relay %.2f GB/s: %.2f× (target ≥ %.2f×) %s\n", s.SluiceGBps, s.BaselineGBps, s.Ratio, targetUpload, passMiss(s.Pass))
	printNotes(e.out, "upload", nil, "", sess)
	fmt.Fprintln(e.out)
	return true, nil
}

// postUpload POSTs the upload body to u and returns the time from the
// request to the answer, which must be its size and SHA-256 want.
func postUpload(ctx context.Context, u, want string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	resp, done, err := once(ctx, timeout, http.MethodPost, u, io.LimitReader(demo.Payload(uploadSeed, uploadSize), uploadSize))
	if err != nil {
		return 0, err
	}
	defer done()
	answer, err := io.ReadAll(resp.Body)
	el := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST %s: %s %q %v", u, resp.Status, answer, err)
	}
	if got := strings.TrimSpace(string(answer)); got != fmt.Sprintf("%d %s", uploadSize, want) {
		return 0, fmt.Errorf("POST %s: answered %q; want %d %s", u, got, uploadSize, want)
	}
	return el, nil
}

// once sends one request on a connection of its own, within timeout (0:
// none), with the header fields hdr (name, value, ...); done closes the
// body and the connection. A body that is an *io.LimitedReader is sent
// with its length.
func once(ctx context.Context, timeout time.Duration, method, u string, body io.Reader, hdr ...string) (resp *http.Response, done func(), err error) {
	cancel := func() {}
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	tr := &http.Transport{DisableCompression: true, WriteBufferSize: relayReadBuffer}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if lr, ok := body.(*io.LimitedReader); ok {
		req.ContentLength = lr.N
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err = (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		tr.CloseIdleConnections()
		return nil, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	return resp, func() {
		resp.Body.Close()
		tr.CloseIdleConnections()
		cancel()
	}, nil
}
