// Command sluice-bench replays the incidents sluice exists to survive against
// the real binary and the designs it replaces, and compares its relay with
// the minimal one.
//
//	make bench                                           # the five replays, a dated report with charts
//	go run ./bench/cmd/sluice-bench -report bench/results airtable plaid voxer smrxt zalando
//	go run ./bench/cmd/sluice-bench                      # airtable
//	go run ./bench/cmd/sluice-bench -rounds 3 airtable relay
//	go run ./bench/cmd/sluice-bench -c 10 -n 10 -size 4MiB -gateway-args "--max-inflight 2" airtable
//	go run ./bench/cmd/sluice-bench small                # sluice vs nginx, 4 KiB to 1 MiB
//	go run ./bench/cmd/sluice-bench -small-sizes 4KiB -small-peers sluice,nginx small
//	go run ./bench/cmd/sluice-bench admission            # auto vs --max-inflight 2, 3 rounds
//	go run ./bench/cmd/sluice-bench -rounds 1 -adm-scale 0.1 -n 8 -c 8 -size 4MiB admission  # a quick look
//	go run ./bench/cmd/sluice-bench overload             # open loops at 3× and 10× capacity, 3 rounds
//	go run ./bench/cmd/sluice-bench -rounds 1 -overload-scale 0.3 overload  # a quick look
//
// Only the airtable scenario runs by default, and `make test` runs none:
// the tests cover the parsing and the statistics.
//
// It builds cmd/sluice into a temporary directory (or uses -bin), starts `sluice serve` once
// per configuration (in its own process group, on loopback ports chosen by the
// kernel), waits until /status shows every worker up, runs the load while
// sampling the summed RSS of the gateway and all its workers, then stops the
// gateway with SIGTERM (SIGKILL to its process group after 10 s). Temporary
// files and every process it started are gone when it exits.
//
// The five incident replays (airtable, plaid, voxer, smrxt, zalando) run
// sluice beside the other designs that -peers names, each started and
// stopped by the bench with 2 workers and measured the same way (same
// client, RSS of its whole process tree sampled every 20 ms):
//
//	go-naive  this binary as httputil.ReverseProxy (idle connections
//	          raised) in front of 2 children serving child/demo's handler
//	          on plain net/http over Unix sockets, round-robin, no admission.
//	nginx     nginx (2 workers, upstream keepalive 64, default proxy
//	          buffering) in front of the same 2 children, when installed.
//	node      bench/peers/node: a Node.js workerParent forwarding each
//	          request to one of 2 workerChild processes over a Unix socket
//	          with res.pipe, the children building each response whole, as
//	          the incidents' services did; when node is installed.
//
// A peer that cannot run is reported as skipped, with the reason. nginx
// drops trailers and res.pipe never forwards them, so their bodies are
// checked by length, not digest. With -report DIR every table goes into
// DIR/YYYY-MM-DD-HHMMSS/report.md, with the machine, the versions and the
// command, and SVG charts drawn with gonum.org/v1/plot between them.
//
// Scenarios:
//
//	airtable  -c requests in flight of GET /payload?size=-size&cpu=-cpu&seed=i
//	          (-n in all) against --workers 2, three ways: defaults,
//	          --sndbuf 8KiB and --admission off, then each of -peers;
//	          checks the targets, and that the defaults beat every
//	          peer on median TTLB and peak RSS. Charts: one timeline per
//	          peer (each request from start to last byte, its first byte
//	          marked), RSS over time, bytes queued in sluice's workers.
//	voxer     the overload scenario (below) with the peers beside it, each
//	          request bounded by 30 s; -voxer-rounds rounds. Charts, at the
//	          largest factor: goodput, 503s, and the 200s' p99 over time.
//	smrxt     4 closed-loop clients per worker of GET
//	          /payload?size=4096&cpu=2s for 3 liveness windows
//	          (-smrxt-liveness, 10 s, sluice's default) with /status read
//	          every 100 ms: worker restarts (target: none), readings with a
//	          worker not up, heartbeat RTT. Charts: RTT per worker and
//	          restarts over time. sluice only: the peers have no heartbeat.
//	zalando   sluice with a worker command that dies at start while a file
//	          exists: both workers killed, their replacements die for 20 s
//	          (× -zalando-scale); restarts over the spell per slot (target
//	          ≤ 12: a backoff, not a storm) and the time until every worker
//	          is up again; then, as root with a writable cgroup cpu
//	          controller (v2 or v1), sluice started inside a cgroup of 1 CPU
//	          must run 1 worker (skipped, saying why, otherwise). Chart:
//	          restarts and workers up over time.
//	relay     one -relay-size response through --workers 1, read with a
//	          1 MiB buffer, against bench/relay.Run with a 4 MiB SO_SNDBUF,
//	          alternating, -relay-rounds times each.
//	small     GET /payload?size=N for each of -small-sizes (4 KiB, 64 KiB,
//	          1 MiB) with -small-c (64) keep-alive connections, through
//	          `sluice serve` with its defaults, through nginx (a temporary
//	          configuration: 2 workers, keepalive 64 to an upstream on a Unix
//	          socket, default proxy buffering) in front of this binary
//	          re-executed as a plain net/http server of child/demo's handler,
//	          and to that server alone over TCP ("direct", a ceiling). The
//	          peers alternate within each of -rounds (3 here) rounds; each
//	          load is -small-duration (10 s) after -small-warmup (2 s) with
//	          `wrk -t2 -c64 --latency`, or bench/load when wrk is missing.
//	          Reports req/s, body MB/s, p50, p99, errors and CPU seconds per
//	          1,000 requests of every process (client included), as medians,
//	          and the targets for sluice over nginx. Without nginx the
//	          peer and its targets are reported as skipped, with the reason.
//
// The admission comparison runs each of its scenarios against the gateway's
// defaults ("auto") and against --max-inflight 2, both in each of -rounds
// (3 here) rounds in an order that rotates, on --workers 2, and prints the
// medians side by side with the targets, PASS or MISS for each. Every body
// is checked (Content-Digest, and a slow client's bytes against
// demo.Payload). -adm-scale shortens the windows of plaid, slow and mixed.
//
//	airtable-admission  the airtable load (-n, -c, -size, -cpu), also with
//	          --admission off as the baseline: median TTLB over the
//	          baseline's, transfer p99, peak RSS, worker flush-lag p99.
//	plaid     GET /payload?size=4096&wait=200ms by -plaid-clients (1, 8,
//	          32, 64, 128) closed-loop clients in turn, 5 s each: req/s,
//	          p50, p99, errors; the peers too. Charts: throughput and p99
//	          against clients.
//	slow      -slow-clients (200) clients reading /payload?size=27MiB at
//	          -slow-rate (64 KiB/s) with a 64 KiB SO_RCVBUF, and one loop
//	          of size=4096, for 10 s: fast p50/p99 and failures, the slow
//	          clients' rate and failures, peak RSS.
//	mixed     for 20 s at once: 8 loops of size=27MiB&cpu=300ms, 32 of
//	          size=4096&wait=200ms, -mixed-slow-clients (50) slow clients
//	          and one fast loop.
//	admission the four above in turn.
//
// The overload scenario judges how the gateway behaves when requests keep
// arriving faster than its workers serve them. It runs like the admission
// comparison (-rounds, 3 here, medians side by side, PASS or MISS), on
// --workers 2, against the gateway's defaults and, as an unjudged baseline,
// against a gateway with -overload-baseline-args ("--queue-target 0":
// controlled delay off, requests wait the whole --queue-timeout). Every
// request is GET /payload?size=64KiB&cpu=100ms&seed=N with its digest
// checked; on each gateway, in turn:
//
//	overload  the unloaded latency: the median of 20 sequential requests;
//	          the capacity: 200s per second of -overload-clients (4)
//	          closed-loop clients over -overload-capacity-window (10 s),
//	          with the peak RSS of the gateway tree; then, after 3 s idle,
//	          an open loop (bench/load with Rate: requests start on
//	          schedule, times from the schedule) at each of
//	          -overload-factors (3, 10) × that capacity for
//	          -overload-window (15 s). Of each: goodput (200s complete
//	          within the window, per second, and over capacity), 200 and
//	          503 latency p50/p99, 503s without Retry-After, Retry-After
//	          min/median/max, other statuses, transport errors, peak RSS,
//	          the generator's max lag (so that a late client shows), and
//	          the recovery: from the end of the schedule, one request at a
//	          time for up to 5 s with /status read before each, the time
//	          until none is waiting and a request takes at most 1.5 ×
//	          unloaded + 10 ms. Targets: goodput ≥ 0.95 of capacity, 503 p99
//	          ≤ 10 ms, every 503 with Retry-After, no other status and no
//	          transport error, 200 p99 ≤ 2 × unloaded + -queue-target (5ms;
//	          given, it is passed on as --queue-target), peak RSS at the
//	          largest factor ≤ 1.2 × the capacity load's, recovery ≤ 2 s.
//	          -overload-scale shortens the windows and idle spells.
//
// The slowhttp scenario runs slowhttptest (the Debian package; skipped,
// saying so, when it is not installed) in each of -slowhttp-modes against
// its own `sluice serve --workers 2`:
//
//	slowhttp  -H slow headers, -B slow body (to /upload), -R range, -X
//	          slow read (1 MiB), each of -slowhttp-conns (1,000)
//	          connections opened at 200/s, for the ramp, the gateway's
//	          timeout that bounds them (60 s, 75 s for -R's idle ones; all
//	          -slowhttp-timeout when given, passed on as the header, body,
//	          send and idle timeouts) and 30 s more, with one closed-loop
//	          client of GET /payload?size=4096 beside it and the parent's
//	          RSS sampled. Targets: the normal p99 ≤ 20 ms, no failure, ≤ 30
//	          KiB of parent RSS per attacking connection open at the height,
//	          and every attacking connection closed by the gateway within
//	          its timeout (slowhttptest ends with "No open connections
//	          left" by then).
//	          go run ./bench/cmd/sluice-bench -slowhttp-conns 200 -slowhttp-timeout 5s slowhttp  # a quick look
//
// The table goes to stdout, progress to stderr, and with -json FILE one JSON
// line per measurement and per summary. A missed target is reported, not
// fatal: the exit status is 1 only if requests failed (in the admission
// comparison and the overload scenario, only if a body failed its integrity
// check: the other failures are figures their targets judge) or a gateway could not be run, 2 for bad
// usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/bench/relay"
	"github.com/sluicegw/sluice/child/demo"
)

func main() {
	upstreamDispatch() // the small scenario re-executes this binary as its Go upstream
	goRelayDispatch()  // and as its go-relay peer's front and backend
	naiveDispatch()    // and the replays as their naive Go peer
	relay.Dispatch()   // relay.Run re-executes this binary as its producer and relay
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line settings shared by the scenarios.
type options struct {
	rounds      int
	jsonPath    string
	gatewayArgs []string
	concurrency int
	requests    int
	size        string // as given; sent in the URL
	cpu         time.Duration
	timeout     time.Duration
	relaySize   int64
	relayRounds int
	logDir      string
	bin         string   // a prebuilt sluice binary; "" builds one
	reportRoot  string   // -report: where dated reports go; "" for none
	peers       []string // -peers: the other designs the replays compare with

	// The smrxt replay.
	smrxtLiveness    time.Duration
	smrxtLivenessSet bool // given: passed on as --liveness-window

	zalandoScale float64 // multiplies the zalando replay's crash spell
	voxerRounds  int     // the voxer replay's rounds; 0 means -rounds

	// The small scenario.
	smallRounds   int
	smallDuration time.Duration
	smallWarmup   time.Duration
	smallSizes    []int64
	smallPeers    []string
	smallConns    int
	wrk           string // wrk's path or name, "none" for bench/load
	nginxBin      string // "" finds it

	// The admission comparison (airtable-admission, plaid, slow, mixed).
	admRounds   int
	admScale    float64 // multiplies the windows of plaid, slow and mixed
	plaidLevels []int
	slowClients int
	mixedSlow   int
	slowRate    int64 // bytes a second

	// The overload scenario.
	ovClients      int
	ovCapWindow    time.Duration
	ovWindow       time.Duration
	ovFactors      []float64
	ovScale        float64 // multiplies the capacity and open-loop windows and the idle between them
	ovBaselineArgs []string
	queueTarget    time.Duration
	queueTargetSet bool // -queue-target was given: the judged gateway gets it too

	// The slowhttp scenario.
	slowhttpConns   int
	slowhttpTimeout time.Duration // 0: the gateway's defaults
	slowhttpModes   string        // of H, B, R, X
}

// ovScaled is d multiplied by -overload-scale.
func (o options) ovScaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * o.ovScale)
}

// scaled is d multiplied by -adm-scale.
func (o options) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * o.admScale)
}

// smallPeerNames are the peers the small scenario knows, in the order it
// runs them within a round.
var smallPeerNames = []string{"sluice", "nginx", "go-relay", "direct"}

// scenarios maps a scenario name to its runner. A runner returns whether
// every request succeeded, and an error if the scenario could not be run.
var scenarios = map[string]func(ctx context.Context, e *env) (ok bool, err error){
	"airtable":  runAirtable,
	"relay":     runRelay,
	"h2":        runH2,
	"small":     runSmall,
	"admission": runAdmissionSet,
	"overload":  admissionRunner(overloadScenario),
	"voxer":     admissionRunner(voxerScenario),
	"smrxt":     runSmrxt,
	"zalando":   runZalando,
	"slowhttp":  runSlowHTTP,
}

// The scenarios of the admission comparison also run one by one.
func init() {
	for _, s := range admissionSet {
		scenarios[s.name] = s.run
	}
}

// runAdmissionSet runs every scenario of the admission comparison in turn.
func runAdmissionSet(ctx context.Context, e *env) (bool, error) {
	ok := true
	for _, s := range admissionSet {
		fine, err := s.run(ctx, e)
		if err != nil {
			return false, fmt.Errorf("%s: %w", s.name, err)
		}
		ok = ok && fine
	}
	return ok, nil
}

// scenarioNames lists the scenarios for usage messages.
const scenarioNames = "airtable, plaid, voxer, smrxt, zalando (the incident replays), relay, h2, export, upload, small, airtable-admission, slow, mixed, admission (airtable-admission, plaid, slow, mixed in turn), overload, or slowhttp"

// env is what a scenario needs: the options, the built binary and the outputs.
type env struct {
	opt    options
	bin    string // the sluice binary
	tmp    string // a directory removed on exit, for gateway logs
	out    io.Writer
	log    io.Writer // progress
	report *jsonl
	rep    *report // with -report: the dated report with charts; nil otherwise
}

// parseArgs parses the command line into options and scenario names; on
// bad usage it says why on stderr and ok is false.
func parseArgs(args []string, stderr io.Writer) (o options, names []string, ok bool) {
	fs := flag.NewFlagSet("sluice-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice-bench [flags] [scenario ...]\n\nscenarios: %s\n\n", scenarioNames)
		fs.PrintDefaults()
	}
	var peerList string
	var gwArgs, relaySize, smallSizes, smallPeers, plaidLevels, slowRate, ovFactors, ovBaseline string
	fs.IntVar(&o.rounds, "rounds", 1, "repeat each configuration `N` times, interleaved, and report medians across rounds (default 1 for airtable, 3 for small and the admission comparison)")
	fs.StringVar(&o.jsonPath, "json", "", "append one JSON line per measurement and summary to this `file`")
	fs.StringVar(&gwArgs, "gateway-args", "", "extra `flags` for every `sluice serve`, split on spaces (e.g. \"--max-inflight 2\")")
	fs.IntVar(&o.concurrency, "c", 50, "airtable: requests in flight at once")
	fs.IntVar(&o.requests, "n", 50, "airtable: requests in all (seeds 0..n-1)")
	fs.StringVar(&o.size, "size", "27MiB", "airtable: response `size`")
	fs.DurationVar(&o.cpu, "cpu", 300*time.Millisecond, "airtable: CPU each request burns before streaming")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "bound on each request")
	fs.StringVar(&relaySize, "relay-size", "1GiB", "relay: response `size`")
	fs.IntVar(&o.relayRounds, "relay-rounds", 3, "relay: measurements of each side, alternating")
	fs.DurationVar(&o.smallDuration, "small-duration", 10*time.Second, "small: measured load per size, per peer, per round (wrk takes whole seconds)")
	fs.DurationVar(&o.smallWarmup, "small-warmup", 2*time.Second, "small: unmeasured load before each measurement; 0 for none")
	fs.StringVar(&smallSizes, "small-sizes", "4KiB,64KiB,1MiB", "small: response `sizes`, comma-separated")
	fs.StringVar(&smallPeers, "small-peers", "sluice,nginx,go-relay,direct", "small: `peers` to measure, comma-separated, of sluice, nginx, go-relay (the floor of a Go front and worker), direct")
	fs.IntVar(&o.smallConns, "small-c", 64, "small: connections")
	fs.StringVar(&o.wrk, "wrk", "wrk", "small: the wrk `binary`; \"none\" uses bench/load, as when wrk is not installed")
	fs.StringVar(&o.nginxBin, "nginx", "", "small: the nginx `binary` (default: nginx on PATH, then /usr/sbin/nginx)")
	fs.Float64Var(&o.admScale, "adm-scale", 1, "plaid, slow, mixed: multiply their windows (5s per level, 10s, 20s) by `F`, e.g. 0.1 for a quick look")
	fs.StringVar(&plaidLevels, "plaid-clients", "1,8,32,64,128", "plaid: closed-loop client `counts`, comma-separated, run in turn")
	fs.IntVar(&o.slowClients, "slow-clients", 200, "slow: slow clients")
	fs.IntVar(&o.mixedSlow, "mixed-slow-clients", 50, "mixed: slow clients")
	fs.StringVar(&slowRate, "slow-rate", "64KiB", "slow, mixed: each slow client's read rate, a `size` per second")
	fs.IntVar(&o.ovClients, "overload-clients", 4, "overload: closed-loop clients that measure the capacity")
	fs.DurationVar(&o.ovCapWindow, "overload-capacity-window", 10*time.Second, "overload: how long the capacity is measured")
	fs.DurationVar(&o.ovWindow, "overload-window", 15*time.Second, "overload: how long each open loop schedules requests")
	fs.StringVar(&ovFactors, "overload-factors", "3,10", "overload: open-loop rates as `multiples` of the measured capacity, comma-separated, run in turn")
	fs.Float64Var(&o.ovScale, "overload-scale", 1, "overload: multiply the capacity and open-loop windows and the idle spells between them by `F`, e.g. 0.3 for a quick look")
	fs.StringVar(&ovBaseline, "overload-baseline-args", "--queue-target 0", "overload: extra `flags` of the baseline gateway, split on spaces (\"\" for none)")
	fs.DurationVar(&o.queueTarget, "queue-target", 5*time.Millisecond, "overload: the gateway's queue target, in the 200 latency target (2 × unloaded + it); given, it is passed to the judged gateway as --queue-target")
	fs.IntVar(&o.slowhttpConns, "slowhttp-conns", 1000, "slowhttp: attacking connections per attack")
	fs.DurationVar(&o.slowhttpTimeout, "slowhttp-timeout", 0, "slowhttp: pass this as the gateway's header, body, send and idle timeouts, to shorten each attack (about the ramp, it and 30 s); 0 keeps their defaults (60 s and more)")
	fs.StringVar(&o.slowhttpModes, "slowhttp-modes", "HBRX", "slowhttp: slowhttptest's `modes` to run, of H (slow headers), B (slow body), R (range), X (slow read)")
	fs.StringVar(&o.bin, "bin", "", "use this sluice `binary` instead of building ./cmd/sluice")
	fs.StringVar(&peerList, "peers", "go-naive,nginx,node", "airtable, plaid, voxer: the other `designs` to compare sluice with, comma-separated, of go-naive, nginx, node; \"none\" for sluice alone")
	fs.DurationVar(&o.smrxtLiveness, "smrxt-liveness", 10*time.Second, "smrxt: the liveness window; the load lasts 3 of them (given, it is passed to sluice as --liveness-window; 10s is sluice's default)")
	fs.IntVar(&o.voxerRounds, "voxer-rounds", 0, "voxer: rounds, `N`, when it should run fewer than -rounds (it is the longest replay); 0 means -rounds")
	fs.Float64Var(&o.zalandoScale, "zalando-scale", 1, "zalando: multiply the 20 s spell during which workers die at start by `F`")
	fs.StringVar(&o.reportRoot, "report", "", "write a dated report (Markdown with every table, the machine and the command, and SVG charts) into a new directory under this `directory`, e.g. bench/results")
	fs.StringVar(&o.logDir, "logs", "", "keep every gateway's log in this `directory` (default: a temporary one, removed)")
	if err := fs.Parse(args); err != nil {
		return o, nil, false
	}
	o.gatewayArgs = strings.Fields(gwArgs)
	// -rounds is 1 by default for airtable, whose rounds are long; the
	// small scenario and the admission comparison take 3, unless -rounds
	// is given.
	o.smallRounds, o.admRounds = 3, 3
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "rounds":
			o.smallRounds, o.admRounds = o.rounds, o.rounds
		case "queue-target":
			o.queueTargetSet = true
		case "smrxt-liveness":
			o.smrxtLivenessSet = true
		}
	})
	if err := o.checkPeers(peerList); err != nil {
		fmt.Fprintln(stderr, "sluice-bench:", err)
		return o, nil, false
	}
	if err := o.check(relaySize); err != nil {
		fmt.Fprintln(stderr, "sluice-bench:", err)
		return o, nil, false
	}
	if err := o.checkSmallFlags(smallSizes, smallPeers); err != nil {
		fmt.Fprintln(stderr, "sluice-bench:", err)
		return o, nil, false
	}
	if err := o.checkAdmissionFlags(plaidLevels, slowRate); err != nil {
		fmt.Fprintln(stderr, "sluice-bench:", err)
		return o, nil, false
	}
	if err := o.checkOverloadFlags(ovFactors, ovBaseline); err != nil {
		fmt.Fprintln(stderr, "sluice-bench:", err)
		return o, nil, false
	}
	names = fs.Args()
	if len(names) == 0 {
		names = []string{"airtable"}
	}
	for _, n := range names {
		if scenarios[n] == nil {
			fmt.Fprintf(stderr, "sluice-bench: unknown scenario %q; use %s\n", n, scenarioNames)
			return o, nil, false
		}
	}
	return o, names, true
}

func run(args []string, stdout, stderr io.Writer) int {
	o, names, ok := parseArgs(args, stderr)
	if !ok {
		return 2
	}
	if err := supported(); err != nil {
		fmt.Fprintln(stderr, "sluice-bench:", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rep *report
	if o.reportRoot != "" {
		var err error
		if rep, err = newReport(o.reportRoot, args, time.Now()); err != nil {
			fmt.Fprintln(stderr, "sluice-bench:", err)
			return 1
		}
		stdout = io.MultiWriter(stdout, rep)
	}
	e, cleanup, err := newEnv(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sluice-bench:", err)
		return 1
	}
	defer cleanup()
	e.rep = rep
	if rep != nil {
		defer func() {
			if err := rep.close(time.Now()); err != nil {
				fmt.Fprintln(stderr, "sluice-bench: writing the report:", err)
				return
			}
			fmt.Fprintln(stderr, "report:", filepath.Join(rep.dir, "report.md"))
		}()
	}

	code := 0
	for _, n := range names {
		ok, err := scenarios[n](ctx, e)
		if err != nil {
			fmt.Fprintf(stderr, "sluice-bench: %s: %v\n", n, err)
			return 1
		}
		if !ok {
			code = 1
		}
	}
	return code
}

func (o *options) check(relaySize string) error {
	if _, err := demo.ParseSize(o.size); err != nil {
		return fmt.Errorf("-size: %v", err)
	}
	n, err := demo.ParseSize(relaySize)
	if err != nil {
		return fmt.Errorf("-relay-size: %v", err)
	}
	o.relaySize = n
	switch {
	case o.rounds < 1:
		return fmt.Errorf("-rounds %d: use 1 or more", o.rounds)
	case o.relayRounds < 1:
		return fmt.Errorf("-relay-rounds %d: use 1 or more", o.relayRounds)
	case o.concurrency < 1 || o.requests < 1:
		return fmt.Errorf("-c %d -n %d: use 1 or more for both", o.concurrency, o.requests)
	case o.cpu < 0 || o.timeout < 0:
		return errors.New("-cpu and -timeout must not be negative")
	case o.voxerRounds < 0:
		return fmt.Errorf("-voxer-rounds %d: use 1 or more, or 0 for -rounds", o.voxerRounds)
	case o.smrxtLiveness <= 0:
		return fmt.Errorf("-smrxt-liveness %v: use a duration above 0", o.smrxtLiveness)
	case !(o.zalandoScale > 0) || o.zalandoScale > 100:
		return fmt.Errorf("-zalando-scale %v: use a factor above 0 and at most 100", o.zalandoScale)
	}
	return nil
}

// checkPeers parses -peers.
func (o *options) checkPeers(list string) error {
	o.peers = nil
	if strings.TrimSpace(list) == "none" {
		return nil
	}
	for p := range strings.SplitSeq(list, ",") {
		p = strings.TrimSpace(p)
		if !slices.ContainsFunc(otherPeers, func(q peer) bool { return q.name == p }) {
			return fmt.Errorf("-peers %q: unknown peer %q; use go-naive, nginx, node, or none", list, p)
		}
		if !slices.Contains(o.peers, p) {
			o.peers = append(o.peers, p)
		}
	}
	return nil
}

// otherPeers are the peers -peers names, in its order.
func (o options) otherPeers() []peer {
	var ps []peer
	for _, name := range o.peers {
		for _, p := range otherPeers {
			if p.name == name {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// checkSmallFlags parses and checks the small scenario's lists and settings.
func (o *options) checkSmallFlags(sizes, peers string) error {
	o.smallSizes = nil
	for s := range strings.SplitSeq(sizes, ",") {
		n, err := demo.ParseSize(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-small-sizes %q: %q is not a positive size (use e.g. 4KiB,64KiB,1MiB)", sizes, s)
		}
		o.smallSizes = append(o.smallSizes, n)
	}
	o.smallPeers = nil
	for p := range strings.SplitSeq(peers, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(smallPeerNames, p) {
			return fmt.Errorf("-small-peers %q: unknown peer %q; use sluice, nginx, go-relay, direct", peers, p)
		}
		o.smallPeers = append(o.smallPeers, p)
	}
	switch {
	case o.smallDuration < time.Second:
		return fmt.Errorf("-small-duration %v: use 1s or more (wrk takes whole seconds)", o.smallDuration)
	case o.smallWarmup < 0:
		return fmt.Errorf("-small-warmup %v must not be negative", o.smallWarmup)
	case o.smallConns < 1:
		return fmt.Errorf("-small-c %d: use 1 or more", o.smallConns)
	}
	return nil
}

// checkAdmissionFlags parses and checks the admission comparison's settings.
func (o *options) checkAdmissionFlags(levels, rate string) error {
	o.plaidLevels = nil
	for s := range strings.SplitSeq(levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-plaid-clients %q: %q is not a positive count (use e.g. 1,8,32,64,128)", levels, s)
		}
		o.plaidLevels = append(o.plaidLevels, n)
	}
	r, err := demo.ParseSize(rate)
	if err != nil || r < 1 {
		return fmt.Errorf("-slow-rate %q: not a positive size a second (use e.g. 64KiB)", rate)
	}
	o.slowRate = r
	switch {
	case !(o.admScale > 0) || o.admScale > 100:
		return fmt.Errorf("-adm-scale %v: use a factor above 0 and at most 100 (e.g. 0.1 for a quick look)", o.admScale)
	case o.slowClients < 1 || o.mixedSlow < 1:
		return fmt.Errorf("-slow-clients %d -mixed-slow-clients %d: use 1 or more for both", o.slowClients, o.mixedSlow)
	}
	return nil
}

// checkOverloadFlags parses and checks the overload scenario's settings.
func (o *options) checkOverloadFlags(factors, baseline string) error {
	o.ovFactors = nil
	for s := range strings.SplitSeq(factors, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || !(f > 0) || f > 1000 {
			return fmt.Errorf("-overload-factors %q: %q is not a multiple above 0 and at most 1000 (use e.g. 3,10)", factors, s)
		}
		o.ovFactors = append(o.ovFactors, f)
	}
	o.ovBaselineArgs = strings.Fields(baseline)
	switch {
	case o.ovClients < 1:
		return fmt.Errorf("-overload-clients %d: use 1 or more", o.ovClients)
	case !(o.ovScale > 0) || o.ovScale > 100:
		return fmt.Errorf("-overload-scale %v: use a factor above 0 and at most 100 (e.g. 0.3 for a quick look)", o.ovScale)
	case o.ovCapWindow <= 0 || o.ovWindow <= 0:
		return fmt.Errorf("-overload-capacity-window %v -overload-window %v: use durations above 0", o.ovCapWindow, o.ovWindow)
	case o.queueTarget < 0:
		return fmt.Errorf("-queue-target %v must not be negative", o.queueTarget)
	}
	return nil
}

// newEnv builds the sluice binary (unless -bin names one) into a fresh
// temporary directory and opens the JSON output. cleanup removes the directory and closes the output.
func newEnv(ctx context.Context, o options, stdout, stderr io.Writer) (*env, func(), error) {
	tmp, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating a temporary directory: %w", err)
	}
	e := &env{opt: o, tmp: tmp, out: stdout, log: stderr}
	cleanup := func() {
		e.report.Close()
		os.RemoveAll(tmp)
		removeNodeScripts()
	}
	if e.bin = o.bin; e.bin == "" {
		fmt.Fprintln(stderr, "building ./cmd/sluice ...")
		if e.bin, err = buildSluice(ctx, tmp); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	if o.logDir != "" {
		if err := os.MkdirAll(o.logDir, 0o755); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("-logs: %w", err)
		}
	}
	if e.report, err = openJSONL(o.jsonPath); err != nil {
		cleanup()
		return nil, nil, err
	}
	return e, cleanup, nil
}

// logPath names the log file of one gateway run.
func (e *env) logPath(name string) string {
	dir := e.opt.logDir
	if dir == "" {
		dir = e.tmp
	}
	return filepath.Join(dir, name+".log")
}
