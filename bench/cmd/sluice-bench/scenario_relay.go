package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicegw/sluice/bench/relay"
)

// The relay comparison.
const (
	relaySndBuf     = 4 << 20 // SO_SNDBUF of the baseline's Unix socket
	relayReadBuffer = 1 << 20 // the client's read size, as in the baseline
	targetRelay     = 0.70    // sluice's median GB/s over the baseline's, at least
)

// relayRow is one measurement (Kind "round") or the comparison (Kind
// "summary") of the relay scenario.
type relayRow struct {
	Scenario string        `json:"scenario"`
	Kind     string        `json:"kind"`
	Side     string        `json:"side,omitempty"` // "sluice" or "baseline"
	Round    int           `json:"round,omitempty"`
	Bytes    int64         `json:"bytes,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns,omitempty"`
	GBps     float64       `json:"gbps,omitempty"`
	// Summary only.
	SluiceGBps   float64 `json:"sluice_median_gbps,omitempty"`
	BaselineGBps float64 `json:"baseline_median_gbps,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	Pass         bool    `json:"pass,omitempty"`
	*session     `json:",omitempty"`
}

// runRelay times one large response through a one-worker gateway against
// the minimal relay, alternating.
func runRelay(ctx context.Context, e *env) (bool, error) {
	o := e.opt
	args := append([]string{"--workers", "1"}, o.gatewayArgs...)
	var sl, base []float64
	sess, err := e.withGateway(ctx, "relay", args, func(g *gateway) error {
		u := "http://" + g.addr + "/payload?size=" + strconv.FormatInt(o.relaySize, 10)
		for r := 1; r <= o.relayRounds; r++ {
			fmt.Fprintf(e.log, "relay round %d/%d: sluice ... ", r, o.relayRounds)
			el, err := fetchTimed(ctx, u, o.relaySize, o.timeout)
			if err != nil {
				fmt.Fprintln(e.log)
				return err
			}
			row := relayRow{Scenario: "relay", Kind: "round", Side: "sluice", Round: r, Bytes: o.relaySize, Elapsed: el, GBps: gbps(o.relaySize, el)}
			e.report.write(row)
			sl = append(sl, row.GBps)
			fmt.Fprintf(e.log, "%.2f GB/s; baseline ... ", row.GBps)

			res, err := relay.Run(ctx, o.relaySize, relaySndBuf)
			if err != nil {
				fmt.Fprintln(e.log)
				return err
			}
			row = relayRow{Scenario: "relay", Kind: "round", Side: "baseline", Round: r, Bytes: res.Bytes, Elapsed: res.Elapsed, GBps: res.GBps()}
			e.report.write(row)
			base = append(base, row.GBps)
			fmt.Fprintf(e.log, "%.2f GB/s\n", row.GBps)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	sum := ratioSummary("relay", sl, base, targetRelay, &sess)
	e.report.write(sum)
	printRelay(e.out, o, sl, base, sum)
	printNotes(e.out, "relay", nil, "", sess)
	fmt.Fprintln(e.out)
	return true, nil
}

// ratioSummary is the summary row of scenario: the median of got over
// the median of base, against target.
func ratioSummary(scenario string, got, base []float64, target float64, sess *session) relayRow {
	sum := relayRow{Scenario: scenario, Kind: "summary", SluiceGBps: median(got), BaselineGBps: median(base), session: sess}
	if sum.BaselineGBps > 0 {
		sum.Ratio = sum.SluiceGBps / sum.BaselineGBps
	}
	sum.Pass = sum.Ratio >= target
	return sum
}

// fetchTimed GETs u with one connection, reads the body with a 1 MiB buffer
// and returns the time from its first byte to its last. A status other than
// 200 or a body of other than want bytes is an error.
func fetchTimed(ctx context.Context, u string, want int64, timeout time.Duration) (time.Duration, error) {
	return fetchTimedWith(ctx, &http.Transport{DisableCompression: true}, u, want, timeout)
}

// fetchTimedWith is fetchTimed through tr, which it closes.
func fetchTimedWith(ctx context.Context, tr *http.Transport, u string, want int64, timeout time.Duration) (time.Duration, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	buf := make([]byte, relayReadBuffer)
	var n int64
	var first, last time.Time
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			last = time.Now()
			if first.IsZero() {
				first = last
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("GET %s: body ended after %d of %d bytes: %w", u, n, want, err)
		}
	}
	if n != want {
		return 0, fmt.Errorf("GET %s: body has %d bytes, want %d", u, n, want)
	}
	return last.Sub(first), nil
}

// gbps is n bytes in d as GB/s (10^9 bytes per second).
func gbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e9
}
