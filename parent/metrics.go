package parent

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the parent's own figures. Workers' figures are fetched from
// each worker at scrape time and exposed beside these with a worker label.
type metrics struct {
	reg *prometheus.Registry
	// sendTimeouts counts the responses cut by the send timeout.
	sendTimeouts prometheus.Counter
	// bodyTimeouts counts the requests whose body stalled past the body
	// timeout.
	bodyTimeouts prometheus.Counter
	// light counts the requests that took the light lane (cost.go).
	light prometheus.Counter
	// continues counts the requests that expected 100 Continue, by
	// whether their body was asked for (continue.go).
	continues [2]prometheus.Counter

	requests  *codeCounters          // by method and status code
	refused   *prometheus.CounterVec // by reason
	aborted   *prometheus.CounterVec // responses cut short, by cause
	retried   prometheus.Counter
	duration  prometheus.Histogram
	ttfb      prometheus.Histogram
	respBytes prometheus.Counter
	rtt       *prometheus.HistogramVec // heartbeat round trip, by worker
	// queueWait is how long queued requests waited, by how it ended.
	queueWait *prometheus.HistogramVec
	// waitObservers are queueWait's children, by waitOutcome.
	waitObservers [3]prometheus.Observer
	// conns are the front listener's connections (LimitListener).
	conns connStats
	// timeouts count the requests the request timeout ended, by phase.
	timeouts [2]prometheus.Counter
	// workerTimeouts count the streams reset by a worker timeout, by
	// kind (progress.go).
	workerTimeouts [len(stallKinds)]prometheus.Counter
}

// Phases of a request timeout (metrics.timeouts).
const (
	timeoutBeforeResponse = iota
	timeoutDuringResponse
)

// Causes of sluice_http_aborted_total.
const (
	abortWorker  = "worker"
	abortClient  = "client"
	abortTimeout = "timeout"
)

// refusalReasons are every reason refusalReason returns, so that each
// series exists, at 0, from the start: an alert on a rate of refusals
// sees 0, not "no data".
var refusalReasons = []string{"overload", "queue_timeout", "queue_full", "no_worker", "draining", "other"}

// latencyBuckets span 1 ms to about 2 minutes: responses here take from
// milliseconds to minutes.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2, 18)

func newMetrics(g *Gateway) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: &codeCounters{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_requests_total", Help: "Requests answered by the gateway, by method (the standard ones; OTHER for the rest) and HTTP status code.",
		}, []string{"method", "code"})},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_refused_total", Help: "Requests refused with 503, by reason: overload (the queue was overloaded: at once, or after the queue target), queue_timeout, queue_full, no_worker, draining.",
		}, []string{"reason"}),
		aborted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_aborted_total", Help: "Responses aborted toward the client after their head was sent, by cause: worker (the stream failed), client (it went away) or timeout (the request timeout passed).",
		}, []string{"cause"}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_http_retried_total", Help: "Requests retried on another worker because the first never started them.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_http_request_duration_seconds", Help: "Time from a request's arrival to the last byte of its response.", Buckets: latencyBuckets,
		}),
		ttfb: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sluice_http_time_to_first_byte_seconds", Help: "Time from a request's arrival to its response head.", Buckets: latencyBuckets,
		}),
		respBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_http_response_bytes_total", Help: "Response body bytes sent to clients.",
		}),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_worker_heartbeat_rtt_seconds", Help: "Round trip of the parent's pings to each worker (pongs overtake data).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"worker"}),
	}
	m.queueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sluice_gateway_queue_wait_seconds", Help: "How long requests that found no worker with room waited in the queue, by outcome: served, refused (503) or gone (the client left).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
	}, []string{"outcome"})
	for o, name := range []string{waitServed: "served", waitRefused: "refused", waitGone: "gone"} {
		m.waitObservers[o] = m.queueWait.WithLabelValues(name)
	}
	reg.MustRegister(m.queueWait, &overloadCollector{g: g})
	m.registerCost(g)
	m.registerContinue()
	reg.MustRegister(m.requests.vec, m.refused, m.aborted, m.retried, m.duration, m.ttfb, m.respBytes, m.rtt, &stateCollector{g: g})
	m.sendTimeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_http_send_timeouts_total", Help: `Responses cut because the client took no bytes for the send timeout, or took them slower than --send-min-rate; each also counts in sluice_http_aborted_total{cause="client"}.`,
	})
	reg.MustRegister(m.sendTimeouts)
	m.bodyTimeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_http_body_timeouts_total", Help: "Requests whose client sent no body bytes for the body timeout (--body-timeout), or sent them slower than --body-min-rate: answered 408, or cut if the response had started.",
	})
	reg.MustRegister(m.bodyTimeouts)
	reg.MustRegister(connCollector{&m.conns})
	timeouts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_http_request_timeouts_total", Help: `Requests the request timeout ended, by phase: before_response (answered 504) or during_response (cut; each also counts in sluice_http_aborted_total{cause="timeout"}).`,
	}, []string{"phase"})
	m.timeouts[timeoutBeforeResponse] = timeouts.WithLabelValues("before_response")
	m.timeouts[timeoutDuringResponse] = timeouts.WithLabelValues("during_response")
	reg.MustRegister(timeouts)
	m.workerTimeouts = newWorkerTimeouts(reg)
	for _, reason := range refusalReasons {
		m.refused.WithLabelValues(reason)
	}
	for _, cause := range []string{abortWorker, abortClient, abortTimeout} {
		m.aborted.WithLabelValues(cause)
	}
	// The parent's runtime figures carry worker="parent", so that one
	// name (go_goroutines, go_sched_latencies_seconds...) covers every
	// process of the gateway.
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"worker": "parent"}, reg)
	wrapped.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler, collectors.MetricsGC)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// stateCollector reports the gateway's state and bounds at scrape time.
type stateCollector struct{ g *Gateway }

var (
	descWorkerUp       = prometheus.NewDesc("sluice_worker_up", "1 if the worker slot has a live worker, 0 if it is down or crash-looping.", []string{"worker"}, nil)
	descWorkerRestarts = prometheus.NewDesc("sluice_worker_restarts_total", "Times the worker slot got a new worker, by reason: crash (the worker exited or its connection ended), hung (silent for the liveness window, killed), recycled (--max-requests or --worker-max-rss), rolling (a rolling restart: SIGHUP, a new sched), failed_start (a new worker did not complete its handshake), stalled (a stream made no progress for a worker timeout), killed (ended by a signal the parent did not send: kill -9), oom (a SIGKILL while the kernel counted an OOM kill in its memory cgroup).", []string{"worker", "reason"}, nil)
	descWorkerOpen     = prometheus.NewDesc("sluice_worker_open_streams", "Requests the gateway has on the worker.", []string{"worker"}, nil)
	descWorkerSndbuf   = prometheus.NewDesc("sluice_worker_parent_sndbuf_bytes", "Effective SO_SNDBUF of the parent's end of the worker socket.", []string{"worker"}, nil)
	descWaiting        = prometheus.NewDesc("sluice_gateway_waiting_requests", "Requests waiting for a worker with room.", nil, nil)
	descMaxQueue       = prometheus.NewDesc("sluice_gateway_max_waiting_requests", "Bound on waiting requests; beyond it requests get 503 at once.", nil, nil)
	descMaxInFlight    = prometheus.NewDesc("sluice_gateway_max_inflight_per_worker", "The hard cap on requests the gateway sends one worker at once; 0 when automatic, by the workers' load reports (live-tunable).", nil, nil)
	descQueueTimeout   = prometheus.NewDesc("sluice_gateway_queue_timeout_seconds", "How long a request may wait for a worker before 503 (live-tunable).", nil, nil)
	descWindow         = prometheus.NewDesc("sluice_gateway_stream_window_bytes", "Credit per stream: the most the parent buffers for one response.", nil, nil)
	descRecvBudget     = prometheus.NewDesc("sluice_gateway_buffer_budget_bytes", "Receive budget shared by every response stream of every worker (--buffer-budget); absent without one.", nil, nil)
	descRecvBuffered   = prometheus.NewDesc("sluice_gateway_buffered_bytes", "Response bytes the parent holds, received from workers and not yet written to clients.", nil, nil)
	descRecvWindow     = prometheus.NewDesc("sluice_gateway_current_stream_window_bytes", "The window each response stream moves toward now: its share of the buffer budget, between the initial window and the stream window.", nil, nil)
	descDraining       = prometheus.NewDesc("sluice_gateway_draining", "1 while the gateway drains.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkerUp, descWorkerRestarts, descWorkerOpen, descWorkerSndbuf, descWaiting, descMaxQueue, descMaxInFlight, descQueueTimeout, descWindow, descRecvBudget, descRecvBuffered, descRecvWindow, descDraining} {
		ch <- d
	}
	for _, d := range loadDescs {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.Status()
	restarts := c.g.sup.restartsByReason()
	for _, w := range st.Workers {
		id := itoa(w.ID)
		up := 0.0
		if w.State == "up" || w.State == "draining" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descWorkerUp, prometheus.GaugeValue, up, id)
		if w.ID < len(restarts) {
			// Every reason from the start, at 0 until it happens, so that
			// a rate over it needs no absent-series special case.
			for why, n := range restarts[w.ID] {
				ch <- prometheus.MustNewConstMetric(descWorkerRestarts, prometheus.CounterValue, float64(n), id, restartReasonNames[why])
			}
		}
		ch <- prometheus.MustNewConstMetric(descWorkerOpen, prometheus.GaugeValue, float64(w.Open), id)
		ch <- prometheus.MustNewConstMetric(descWorkerSndbuf, prometheus.GaugeValue, float64(w.SendBuffer), id)
		collectLoad(ch, w)
	}
	draining := 0.0
	if st.Draining {
		draining = 1
	}
	ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(st.Waiting))
	ch <- prometheus.MustNewConstMetric(descMaxQueue, prometheus.GaugeValue, float64(c.g.cfg.MaxQueue))
	ch <- prometheus.MustNewConstMetric(descMaxInFlight, prometheus.GaugeValue, float64(c.g.maxInFlight()))
	ch <- prometheus.MustNewConstMetric(descQueueTimeout, prometheus.GaugeValue, c.g.queueTimeout().Seconds())
	ch <- prometheus.MustNewConstMetric(descWindow, prometheus.GaugeValue, float64(c.g.streamWindow()))
	if ic := c.g.cfg.IPC; ic != nil && ic.RecvBudget != nil {
		b := ic.RecvBudget
		ch <- prometheus.MustNewConstMetric(descRecvBudget, prometheus.GaugeValue, float64(b.Limit()))
		ch <- prometheus.MustNewConstMetric(descRecvBuffered, prometheus.GaugeValue, float64(b.Buffered()))
	}
	ch <- prometheus.MustNewConstMetric(descRecvWindow, prometheus.GaugeValue, float64(c.g.cfg.IPC.CurrentWindow()))
	ch <- prometheus.MustNewConstMetric(descDraining, prometheus.GaugeValue, draining)
}

// codeCounters are a counter vector by method and status code whose
// children are looked up once per pair: every request counts its status,
// and a lookup costs the code's string and a hash of both.
type codeCounters struct {
	vec    *prometheus.CounterVec
	byCode [len(knownMethods) + 1][600]atomic.Pointer[prometheus.Counter]
}

// knownMethods are the methods with a label of their own (RFC 9110 and
// PATCH); any other is counted as OTHER, so that a client cannot grow the
// metric's series with made-up methods.
var knownMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// methodLabel is the label index of method: its place in knownMethods, or
// len(knownMethods) for OTHER.
func methodLabel(method string) (int, string) {
	for i, m := range knownMethods {
		if m == method {
			return i, m
		}
	}
	return len(knownMethods), "OTHER"
}

func (c *codeCounters) inc(method string, code int) {
	mi, label := methodLabel(method)
	if code < 0 || code >= len(c.byCode[mi]) {
		c.vec.WithLabelValues(label, strconv.Itoa(code)).Inc()
		return
	}
	p := c.byCode[mi][code].Load()
	if p == nil {
		// Two first requests may both look it up: the vector returns the
		// same child to both.
		ctr := c.vec.WithLabelValues(label, strconv.Itoa(code))
		p = &ctr
		c.byCode[mi][code].Store(p)
	}
	(*p).Inc()
}
