package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sluicegw/sluice/bench/load"
	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
	"github.com/sluicegw/sluice/sockopt"
)

// digestOf is the Content-Digest field value of body.
func digestOf(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

func TestAdmissionFlags(t *testing.T) {
	o, names, ok := parseArgs([]string{"admission"}, io.Discard)
	if !ok || !slices.Equal(names, []string{"admission"}) {
		t.Fatalf("parseArgs(admission) = %v, %v", names, ok)
	}
	if o.admRounds != 3 || o.admScale != 1 || !slices.Equal(o.plaidLevels, []int{1, 8, 32, 64, 128}) ||
		o.slowClients != 200 || o.mixedSlow != 50 || o.slowRate != 64<<10 {
		t.Errorf("defaults: rounds %d scale %v levels %v slow %d mixed-slow %d rate %d; want 3, 1, 1..128, 200, 50, 65536",
			o.admRounds, o.admScale, o.plaidLevels, o.slowClients, o.mixedSlow, o.slowRate)
	}
	if o.rounds != 1 {
		t.Errorf("airtable's -rounds default changed to %d", o.rounds)
	}
	o, _, ok = parseArgs([]string{"-rounds", "1", "-adm-scale", "0.1", "-plaid-clients", "2, 4", "-slow-rate", "1MiB",
		"-slow-clients", "5", "-mixed-slow-clients", "6", "plaid", "slow", "mixed", "airtable-admission"}, io.Discard)
	if !ok || o.admRounds != 1 || o.smallRounds != 1 || !slices.Equal(o.plaidLevels, []int{2, 4}) || o.slowRate != 1<<20 ||
		o.slowClients != 5 || o.mixedSlow != 6 {
		t.Errorf("given flags: ok %v rounds %d/%d levels %v rate %d slow %d/%d", ok, o.admRounds, o.smallRounds, o.plaidLevels, o.slowRate, o.slowClients, o.mixedSlow)
	}
	if got := o.scaled(5 * time.Second); got != 500*time.Millisecond {
		t.Errorf("-adm-scale 0.1 of 5s = %v, want 500ms", got)
	}
	for _, bad := range [][]string{
		{"-adm-scale", "0", "plaid"}, {"-adm-scale", "-1", "plaid"}, {"-adm-scale", "NaN", "plaid"},
		{"-plaid-clients", "", "plaid"}, {"-plaid-clients", "1,0", "plaid"}, {"-plaid-clients", "8,x", "plaid"},
		{"-slow-rate", "0", "slow"}, {"-slow-rate", "fast", "slow"},
		{"-slow-clients", "0", "slow"}, {"-mixed-slow-clients", "0", "mixed"},
		{"admissions"},
	} {
		var msg bytes.Buffer
		if _, _, ok := parseArgs(bad, &msg); ok || msg.Len() == 0 {
			t.Errorf("parseArgs(%q) accepted (or said nothing)", bad)
		}
		if code := run(bad, io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%q) = %d, want 2", bad, code)
		}
	}
}

// The comparison's figures are what its targets name: the fixed
// configuration passes its flag, auto passes none.
func TestAdmissionScenarios(t *testing.T) {
	o, _, _ := parseArgs([]string{"admission"}, io.Discard)
	for _, s := range admissionSet {
		if scenarios[s.name] == nil {
			t.Errorf("scenario %q is not runnable on its own", s.name)
		}
	}
	for _, build := range []func(options) admScenario{airtableAdmissionScenario, plaidScenario, slowScenario, mixedScenario} {
		sc := build(o)
		if sc.configs[0].args != nil || !slices.Equal(sc.configs[1].args, []string{"--max-inflight", "2"}) {
			t.Errorf("%s: configs %+v; want auto without flags, then --max-inflight 2", sc.name, sc.configs)
		}
		keys := map[string]bool{}
		for _, r := range sc.rows {
			if keys[r.key] {
				t.Errorf("%s: figure %q has two rows", sc.name, r.key)
			}
			keys[r.key] = true
		}
	}
	plaid := plaidScenario(o)
	var rps *admTarget
	for _, r := range plaid.rows {
		if r.key == "c128.rps" {
			rps = r.target
		}
	}
	if rps == nil || rps.op != "≥" || rps.bound != 512 {
		t.Errorf("plaid at 128 clients: target %+v; want ≥ 512 (0.8 × 128 / 0.2 s)", rps)
	}
	if mixedIOTargetRate != 112 {
		t.Errorf("mixed I/O target %v req/s, want 112 (0.7 × 32 / 0.2 s)", mixedIOTargetRate)
	}
}

// endless serves zeros at once, as a client whose server always has more.
type endless struct{}

func (endless) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// readLog records when each piece was written and how large it was.
type readLog struct {
	at   []time.Time
	size []int
}

func (l *readLog) Write(p []byte) (int, error) {
	l.at, l.size = append(l.at, time.Now()), append(l.size, len(p))
	return len(p), nil
}

func TestPaceKeepsTheRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, piece = 64 << 10, 4 << 10
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var l readLog
		start := time.Now()
		n, err := pace(ctx, endless{}, &l, rate, piece)
		if err != context.DeadlineExceeded {
			t.Fatalf("pace ended with %v, want the context's deadline", err)
		}
		// Every piece is due when the bytes before it are: 16 pieces a
		// second, the first at once, the last at exactly 10 s.
		if want := int64(rate*10 + piece); n != want {
			t.Errorf("read %d bytes in 10 s at %d B/s in %d-byte pieces; want %d", n, rate, piece, want)
		}
		var before int64
		for i, at := range l.at {
			due := start.Add(time.Duration(before) * time.Second / rate)
			if at.Before(due) || l.size[i] > piece {
				t.Fatalf("piece %d: %d bytes at %v; due at %v, at most %d bytes", i, l.size[i], at.Sub(start), due.Sub(start), piece)
			}
			before += int64(l.size[i])
		}
	})
}

func TestPaceEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l readLog
		start := time.Now()
		n, err := pace(t.Context(), strings.NewReader(strings.Repeat("x", 10000)), &l, 1000, 4000)
		if err != nil || n != 10000 {
			t.Errorf("pace of 10000 bytes = %d, %v; want all of them and nil at EOF", n, err)
		}
		// Pieces at 0, 4 and 8 s; the read that finds the end is paced
		// too (pace cannot know it is the end), at 10 s.
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("10000 bytes at 1000 B/s in 4000-byte pieces took %v; want 10s", took)
		}

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := pace(ctx, endless{}, io.Discard, 1, 1)
			done <- err
		}()
		synctest.Wait() // parked until its next byte is due, a second away
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("pace after cancel: %v, want context.Canceled", err)
		}
	})
}

func TestPayloadCheck(t *testing.T) {
	body, _ := io.ReadAll(demo.Payload(3, 100000))
	newCheck := func() *payloadCheck {
		return &payloadCheck{want: demo.Payload(3, 100000), buf: make([]byte, 4096), sum: digest.NewVerifier()}
	}
	for _, piece := range []int{1, 4096, 10000} {
		c := newCheck()
		for rest := body; len(rest) > 0; {
			k := min(piece, len(rest))
			c.Write(rest[:k])
			rest = rest[k:]
		}
		if c.bad != "" {
			t.Errorf("intact body in %d-byte pieces: %s", piece, c.bad)
		}
		if err := c.sum.Check(digestOf(body)); err != nil {
			t.Errorf("the digest of an intact body in %d-byte pieces: %v", piece, err)
		}
	}
	bad := slices.Clone(body)
	bad[50000] ^= 1
	c := newCheck()
	c.Write(bad)
	if !strings.Contains(c.bad, "offset 49152") {
		t.Errorf("a flipped byte at 50000: %q; want the 4 KiB piece at offset 49152 named", c.bad)
	}
	c = newCheck()
	c.Write(append(slices.Clone(body), 'x'))
	if !strings.Contains(c.bad, "more than the 100000 bytes") {
		t.Errorf("one byte too many: %q", c.bad)
	}
}

func TestFlushLagFromMetrics(t *testing.T) {
	read := func(name string) series {
		f, err := os.Open("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		s, err := parseHistograms(f, flushLagMetric)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before, after := read("metrics-before.txt"), read("metrics-after.txt")
	if len(before) != 2 || len(after) != 2 {
		t.Fatalf("series before %d after %d; want one per worker", len(before), len(after))
	}
	// Worker 0 counted 120 more; worker 1 was replaced (its count fell
	// from 600 to 80), so all of its 80 are new. Of the 200, 196 are at or
	// below 13.57 ms and 4 in the bucket up to 26.27 ms: the 198th is half
	// way into it.
	d, err := delta(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if total := d.counts[len(d.counts)-1]; total != 200 {
		t.Fatalf("delta counts %v; want 200 in all", d.counts)
	}
	p99, ok := d.quantile(0.99)
	want := 0.01357208808297453 + (0.026265278044037665-0.01357208808297453)/2
	if !ok || math.Abs(p99-want) > 1e-12 {
		t.Errorf("p99 = %v, %v; want %v", p99, ok, want)
	}
	if lag := flushLagOver(before, after, nil, nil); lag.err != "" || lag.p99 != p99 {
		t.Errorf("flushLagOver = %+v; want p99 %v", lag, p99)
	}
	if p50, _ := d.quantile(0.5); p50 != 0.0005 {
		t.Errorf("p50 = %v; want the first bucket's bound 0.0005 (100 of 200 in it)", p50)
	}
	if lag := flushLagOver(after, after, nil, nil); lag.err == "" {
		t.Errorf("no new samples gave p99 %v, want an error", lag.p99)
	}

	inf := histogram{bounds: []float64{0.1, 1, math.Inf(1)}, counts: []float64{0, 0, 5}}
	if v, ok := inf.quantile(0.99); !ok || v != 1 {
		t.Errorf("all in +Inf: %v, %v; want the highest finite bound, 1", v, ok)
	}
	if _, err := parseHistograms(strings.NewReader("go_goroutines 3\n"), flushLagMetric); err == nil {
		t.Error("metrics without the histogram parsed")
	}
}

func TestSummarizeLoop(t *testing.T) {
	ms := time.Millisecond
	no := false
	rs := []load.Result{
		{Index: 0, Start: 0, Status: 200, TTLB: 200 * ms, Transfer: 1 * ms},
		{Index: 1, Start: 200 * ms, Status: 200, TTLB: 300 * ms, Transfer: 2 * ms},
		{Index: 2, Start: 900 * ms, Status: 200, TTLB: 400 * ms, Transfer: 3 * ms}, // ends after the window
		{Index: 3, Start: 100 * ms, Status: 503, TTLB: 1 * ms},
		{Index: 4, Start: 100 * ms, Status: 200, Err: "Content-Digest sha-256 mismatch", DigestOK: &no},
		{Index: 5, Start: 100 * ms, Err: "connection reset"},
	}
	s := summarizeLoop("fast", rs, time.Second)
	if s.OK != 3 || s.InWindow != 2 || s.RPS != 2 || s.Errors != 3 || s.Integrity != 1 {
		t.Errorf("ok %d in window %d rps %v errors %d integrity %d; want 3, 2, 2, 3, 1", s.OK, s.InWindow, s.RPS, s.Errors, s.Integrity)
	}
	if s.P50 != 300*ms || s.P99 != 400*ms || s.TransferP99 != 3*ms {
		t.Errorf("p50 %v p99 %v transfer p99 %v; want 300ms, 400ms, 3ms", s.P50, s.P99, s.TransferP99)
	}
	if !strings.HasPrefix(s.firstErr, "fast: request 3: status 503") || !strings.Contains(s.firstIntegrity, "mismatch") {
		t.Errorf("first failures %q / %q", s.firstErr, s.firstIntegrity)
	}
	figs := map[string]float64{}
	s.put(figs, "fast")
	summarizeLoop("none", nil, time.Second).put(figs, "none")
	if figs["fast.p99"] != 0.4 || figs[figIntegrity] != 1 || figs["none.ok"] != 0 {
		t.Errorf("figures %v", figs)
	}
	if _, ok := figs["none.p99"]; ok {
		t.Error("a loop without a success has a p99")
	}
}

func TestSummarizeSlow(t *testing.T) {
	rs := []slowResult{
		{bytes: 640 << 10, served: true, reading: 10 * time.Second},
		{bytes: 320 << 10, served: true, reading: 5 * time.Second},
		{failures: failures{firstErr: "slow client 2: cut after 0 bytes"}},
		{bytes: 64 << 10, served: true, reading: time.Second, failures: failures{firstIntegrity: "slow client 3: bytes differ"}},
	}
	s := summarizeSlow(rs, 10*time.Second)
	if s.Clients != 4 || s.Served != 3 || s.Failures != 1 || s.Integrity != 1 {
		t.Errorf("%+v; want 4 clients, 3 served, 1 failure, 1 integrity failure", s)
	}
	if s.RateServed != 64<<10 || s.RateWindow != 6553.6 {
		t.Errorf("rates served %v window %v; want 65536 and 6553.6 (the lower middle of 64, 6.4, 0, 32 KiB/s)", s.RateServed, s.RateWindow)
	}
}

func TestMedianAdm(t *testing.T) {
	rows := []admRow{{key: "errs", count: true}, {key: "p99"}}
	mk := func(p99, errs float64, first string) admRun {
		r := admRun{Kind: "round", Config: "auto", Figures: map[string]float64{"p99": p99, "errs": errs, figIntegrity: 0}, FirstError: first}
		r.PeakRSS = int64(p99 * 100)
		return r
	}
	a, b, c := mk(3, 1, "boom"), mk(1, 0, ""), mk(2, 2, "bang")
	delete(b.Figures, "p99") // a round without a success
	m := medianAdm([]admRun{a, b, c}, rows)
	if m.Kind != "median" || m.Figures["errs"] != 3 || m.Figures["p99"] != 2 || m.FirstError != "boom" || m.PeakRSS != 200 {
		t.Errorf("median %+v; want errors summed (3), p99 the median of the rounds that have one (2), first error boom, peak 200", m)
	}
}

func TestTargetMeets(t *testing.T) {
	for _, c := range []struct {
		op       string
		v, bound float64
		measured bool
		want     bool
	}{
		{"≥", 5, 5, true, true}, {"≥", 4.9, 5, true, false},
		{"≤", 5, 5, true, true}, {"≤", 5.1, 5, true, false},
		{"<", 5, 5, true, false}, {"<", 4.9, 5, true, true},
		{"≤", 0, 5, false, false}, {"≤", math.NaN(), 5, true, false},
	} {
		if got := (&admTarget{op: c.op, bound: c.bound}).meets(c.v, c.measured); got != c.want {
			t.Errorf("%v %s %v (measured %v) = %v, want %v", c.v, c.op, c.bound, c.measured, got, c.want)
		}
	}
}

func TestPrintAdm(t *testing.T) {
	sc := admScenario{
		name:    "demo",
		configs: []admConfig{autoConfig, fixedConfig, admissionOffConfig},
		rows: []admRow{
			{key: "rps", label: "req/s", format: fmtRate, target: &admTarget{op: "≥", bound: 100, text: "≥ 100"}},
			{key: "p99", label: "p99", format: fmtSeconds, target: &admTarget{op: "≤", bound: 0.4, text: "≤ 400 ms"}},
			{key: "errors", label: "errors (all rounds)", format: fmtCount, count: true},
			rssRow(&admTarget{op: "≤", bound: 128 << 20, text: "≤ 128 MiB"}),
		},
	}
	med := map[string]*admRun{
		"auto":          {Figures: map[string]float64{"rps": 123.4, "p99": 0.2034, "errors": 0, figPeakRSS: 100 << 20}},
		"fixed-2":       {Figures: map[string]float64{"rps": 20, "errors": 7, figPeakRSS: 40 << 20}},
		"admission-off": {Figures: map[string]float64{"rps": 500, "p99": 1.5, "errors": 0, figPeakRSS: 300 << 20}},
	}
	var out bytes.Buffer
	got := printAdm(&out, sc, med)
	want := `figure                     auto     --max-inflight 2  admission off  target     result (auto / --max-inflight 2)
req/s                      123.4    20.0              500.0          ≥ 100      PASS / MISS
p99                        203 ms   -                 1500 ms        ≤ 400 ms   PASS / MISS
errors (all rounds)        0        7                 0
peak RSS (parent+workers)  100 MiB  40 MiB            300 MiB        ≤ 128 MiB  PASS / PASS
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
	if len(got.Checks) != 6 || got.Checks[1].Config != "fixed-2" || got.Checks[1].Pass || !got.Checks[0].Pass || got.Checks[3].Pass {
		t.Errorf("checks %+v; want auto and fixed-2 for each of three targets, the baseline never judged", got.Checks)
	}
}

// The slow clients' connections have the receive buffer asked for (Linux
// reads back twice what was set). 16 KiB, because an untouched loopback
// socket may well read back 128 KiB, twice slowRcvBuf.
func TestSlowTransportReceiveBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const want = 16 << 10
	tr := slowTransport(want)
	defer tr.CloseIdleConnections()
	c, err := tr.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := sockopt.RecvBuffer(c.(syscall.Conn))
	if err != nil {
		t.Skipf("SO_RCVBUF cannot be read here: %v", err)
	}
	if got > 2*want {
		t.Errorf("effective SO_RCVBUF %d; want at most %d", got, 2*want)
	}
}
