package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// targetH2 is the least median throughput of one large response over
// HTTP/2 as a share of the same response over HTTP/1.1.
const targetH2 = 0.70

// runH2 times one large response (-relay-size) through one gateway serving
// HTTP/1.1 and h2c on one port, alternating the protocols -relay-rounds
// times with Go's client at its defaults, and compares the medians. The
// same response from a bare net/http server (the bench's Go upstream, both
// protocols on one port) is fetched in the same rounds: Go's own HTTP/2
// server with nothing in front of it, printed for scale, not judged.
// Cleartext on both sides, so that the difference is the protocol's:
// HTTP/2's DATA frames are at most the client's SETTINGS_MAX_FRAME_SIZE
// (16 KiB for Go, curl and browsers), each with its flow control.
func runH2(ctx context.Context, e *env) (bool, error) {
	o := e.opt
	args := append([]string{"--workers", "1", "--h2c"}, o.gatewayArgs...)
	var h1, h2, big, nh1, nh2, bare1, bare2 []float64
	h2load, _ := exec.LookPath("h2load")
	// The same handler on a bare net/http server, both protocols on one
	// port, read by the same client: what Go's own HTTP/2 server does
	// with nothing in front of it, the ceiling for anything that serves
	// HTTP/2 through net/http.
	up, err := startUpstream(ctx, filepath.Join(e.tmp, "h2-upstream.sock"), e.logPath("h2-upstream"))
	if err != nil {
		return false, err
	}
	defer up.stop()
	bareURL := "http://" + up.addr + "/payload?size=" + strconv.FormatInt(o.relaySize, 10)
	// fetch times each Go-client side once, in turn, for round r.
	type goSide struct {
		name string
		v    *[]float64
		url  string
		tr   *http.Transport
	}
	fetch := func(r int, sides []goSide) error {
		for _, side := range sides {
			el, err := fetchTimedWith(ctx, side.tr, side.url, o.relaySize, o.timeout)
			if err != nil {
				return fmt.Errorf("%s: %w", side.name, err)
			}
			row := relayRow{Scenario: "h2", Kind: "round", Side: side.name, Round: r, Bytes: o.relaySize, Elapsed: el, GBps: gbps(o.relaySize, el)}
			e.report.write(row)
			*side.v = append(*side.v, row.GBps)
			fmt.Fprintf(e.log, "h2 round %d/%d: %s %.2f GB/s\n", r, o.relayRounds, side.name, row.GBps)
		}
		return nil
	}
	sess, err := e.withGateway(ctx, "h2", args, func(g *gateway) error {
		u := "http://" + g.addr + "/payload?size=" + strconv.FormatInt(o.relaySize, 10)
		bareSides := []goSide{
			{"bare net/http HTTP/1.1", &bare1, bareURL, &http.Transport{DisableCompression: true}},
			{"bare net/http h2c", &bare2, bareURL, h2cTransport(0)},
		}
		gatewaySides := []goSide{
			{"HTTP/1.1", &h1, u, &http.Transport{DisableCompression: true}},
			{"h2c", &h2, u, h2cTransport(0)},
			{"h2c, 1 MiB frames", &big, u, h2cTransport(h2BigFrame)},
		}
		for r := 1; r <= o.relayRounds; r++ {
			if err := fetch(r, bareSides); err != nil {
				return err
			}
			if h2load != "" {
				for _, side := range []struct {
					name string
					v    *[]float64
					flag []string
				}{{"h2load --h1", &nh1, []string{"--h1"}}, {"h2load h2c", &nh2, nil}} {
					v, err := runH2load(ctx, h2load, side.flag, u)
					if err != nil {
						return fmt.Errorf("%s: %w", side.name, err)
					}
					*side.v = append(*side.v, v)
					fmt.Fprintf(e.log, "h2 round %d/%d: %s %.2f GB/s\n", r, o.relayRounds, side.name, v)
				}
			}
			if err := fetch(r, gatewaySides); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	sum := ratioSummary("h2", h2, h1, targetH2, &sess)
	e.report.write(sum)
	fmt.Fprintf(e.out, "h2: one %s response, h2c against HTTP/1.1 on the same gateway (sluice serve %s), read with a 1 MiB buffer, first byte to last\n",
		humanBytes(o.relaySize), strings.Join(args, " "))
	printGBps(e.out, []gbpsSide{{"Go client HTTP/1.1", h1, sum.BaselineGBps}, {"Go client h2c", h2, sum.SluiceGBps}, {"Go client h2c, 1 MiB frames", big, median(big)},
		{"h2load --h1", nh1, median(nh1)}, {"h2load h2c", nh2, median(nh2)},
		{"bare net/http HTTP/1.1, Go client", bare1, median(bare1)}, {"bare net/http h2c, Go client", bare2, median(bare2)}})
	fmt.Fprintf(e.out, "ratio h2c / HTTP/1.1, Go client: %.2f (target ≥ %.2f) %s\n", sum.Ratio, targetH2, passMiss(sum.Pass))
	bs := ratioSummary("h2", big, h1, targetH2, nil)
	bs.Side = "go-1MiB-frames"
	e.report.write(bs)
	fmt.Fprintf(e.out, "ratio h2c with 1 MiB frames / HTTP/1.1, Go client: %.2f (target ≥ %.2f) %s\n", bs.Ratio, targetH2, passMiss(bs.Pass))
	bare := ratioSummary("h2", bare2, bare1, targetH2, nil)
	bare.Side = "bare-net-http"
	e.report.write(bare)
	fmt.Fprintf(e.out, "ratio h2c / HTTP/1.1, bare net/http (the same handler, no gateway), Go client: %.2f; sluice's h2c / bare net/http's h2c: %.2f\n",
		bare.Ratio, median(h2)/median(bare2))
	if len(nh1) > 0 {
		ns := ratioSummary("h2", nh2, nh1, targetH2, nil)
		ns.Side = "h2load"
		e.report.write(ns)
		fmt.Fprintf(e.out, "ratio h2c / HTTP/1.1, h2load: %.2f (target ≥ %.2f) %s\n", ns.Ratio, targetH2, passMiss(ns.Pass))
	}
	printNotes(e.out, "h2", nil, "", sess)
	fmt.Fprintln(e.out)
	return true, nil
}

// runH2load fetches u once with h2load (nghttp2's client: HTTP/2 unless
// flags say --h1) and returns its GB/s, from start to end.
func runH2load(ctx context.Context, bin string, flags []string, u string) (float64, error) {
	out, err := exec.CommandContext(ctx, bin, append(append([]string{"-n", "1", "-c", "1"}, flags...), u)...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v\n%s", err, out)
	}
	return parseH2load(string(out))
}

// parseH2load reads the throughput of a one-request h2load run, in GB/s
// (10^9 bytes, as every other figure of the bench), from its "finished
// in" line, once its "requests:" line says it succeeded.
func parseH2load(out string) (float64, error) {
	var rate float64
	ok := false
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "requests:") && strings.Contains(line, " 1 succeeded") {
			ok = true
		}
		if rest, found := strings.CutPrefix(line, "finished in "); found {
			f := strings.Split(rest, ", ")
			if len(f) != 3 {
				return 0, fmt.Errorf("h2load: unexpected line %q", line)
			}
			v, err := parseRate(f[2])
			if err != nil {
				return 0, fmt.Errorf("h2load: %q: %v", line, err)
			}
			rate = v
		}
	}
	if !ok || rate == 0 {
		return 0, fmt.Errorf("h2load: the request did not succeed:\n%s", out)
	}
	return rate / 1e9, nil
}

// parseRate reads h2load's rate, "316.42MB/s", in bytes per second.
// h2load picks the unit (B/s, KB/s, MB/s, GB/s) by the size of the
// figure, in powers of 1024 (nghttp2's util::utos_funit): its "GB/s" is
// GiB/s.
func parseRate(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		bytes  float64
	}{{"GB/s", 1 << 30}, {"MB/s", 1 << 20}, {"KB/s", 1 << 10}, {"B/s", 1}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, err
			}
			return v * u.bytes, nil
		}
	}
	return 0, fmt.Errorf("no unit of B/s, KB/s, MB/s or GB/s in %q", s)
}

// h2cTransport speaks HTTP/2 with prior knowledge only, at Go's defaults.
func h2cTransport(maxFrame int) *http.Transport {
	tr := &http.Transport{DisableCompression: true, Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	if maxFrame > 0 {
		tr.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: maxFrame}
	}
	return tr
}

// h2BigFrame is the SETTINGS_MAX_FRAME_SIZE of the third client: Go's
// server sends DATA frames up to what its peer takes, so this one shows
// how much of HTTP/2's cost is the 16 KiB frames of the usual clients.
const h2BigFrame = 1 << 20
