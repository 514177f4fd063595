package child

import (
	"math"
	"net"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicegw/sluice/sockopt"
)

// metrics are one Serve call's Prometheus figures, served by the admin
// stream's GET /metrics (docs/PROTOCOL.md, "Admin streams"); the parent
// merges them into its own /metrics with a worker label.
type metrics struct {
	reg *prometheus.Registry

	started  prometheus.Counter
	panics   prometheus.Counter
	refused  prometheus.Counter
	flushLag prometheus.Histogram
}

// flushLagBuckets span 0.5 ms (a writer that keeps up) to 10 s (a writer
// starved by busy handlers: "Starved flushing" in docs/ARCHITECTURE.md).
var flushLagBuckets = prometheus.ExponentialBucketsRange(0.0005, 10, 16)

// newMetrics builds s's registry. conn is Serve's connection: if it is a
// socket whose queue the kernel reports, the socket gauges read it.
func newMetrics(s *server, conn net.Conn) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		started: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_worker_handlers_started_total",
			Help: "Handlers started: streams the admission gate let through (admin streams are not counted).",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_worker_handler_panics_total",
			Help: "Handlers that panicked (other than with http.ErrAbortHandler); each response was aborted.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_worker_refused_total",
			Help: "Streams reset with REFUSED because the worker was stopping before their handler started; the parent may retry them elsewhere.",
		}),
		flushLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_worker_flush_lag_seconds",
			Help:    "Time from a handler's Write queuing response bytes to the connection's writer handing them to the socket, per data segment written.",
			Buckets: flushLagBuckets,
		}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counts := func(pick func(gateCounts) int) func() float64 {
		return func() float64 { return float64(pick(s.gate.counts())) }
	}
	signal := func(v interface{ Load() uint32 }, scale float64) func() float64 {
		return func() float64 { return float64(v.Load()) * scale }
	}
	limits := func(pick func(limit, high, low int64) int64) func() float64 {
		return func() float64 { return float64(pick(s.budget.Limits())) }
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler, collectors.MetricsGC)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.started, m.panics, m.refused, m.flushLag,
		gauge("sluice_worker_inflight", "Handlers running now (admin streams are not counted), light ones included (the LOAD report leaves those out).",
			counts(func(c gateCounts) int { return c.inFlight + c.light })),
		gauge("sluice_worker_light_inflight", "Handlers of light requests running now: the parent found their endpoint's handlers cheap in CPU, so they started without waiting for the CPU admission limit.",
			counts(func(c gateCounts) int { return c.light })),
		gauge("sluice_worker_waiting", "Streams accepted and waiting at the admission gate for their handler to start.",
			counts(func(c gateCounts) int { return c.waiting })),
		gauge("sluice_worker_max_inflight", "The admission gate's limit: with a fixed --max-inflight, handlers running at once; automatic, handlers computing at once (the CPU admission limit); with admission off, the connection's stream limit.",
			counts(func(c gateCounts) int {
				if !s.gate.gated {
					return s.maxStreams
				}
				return c.limit
			})),
		gauge("sluice_worker_blocked_on_client", "Running handlers blocked on their client: writing a response it reads slowly, or reading a body it sends slowly. They do not count toward the CPU admission limit.",
			counts(func(c gateCounts) int { return c.blocked })),
		gauge("sluice_worker_idle_handlers", "Running handlers that do not count toward the CPU admission limit now: those blocked on their client and those the Go scheduler sees waiting (on I/O, a lock, a timer).",
			func() float64 { return float64(s.gate.idleBlocked()) }),
		gauge("sluice_worker_draining", "Streams whose handler returned while their response is still being sent.",
			counts(func(c gateCounts) int { return c.draining })),
		gauge("sluice_worker_cpu_pressure_ratio", "Share of the CPU admission controller's last interval during which runnable work waited for a CPU (PSI some; 0 where PSI is missing).",
			signal(&s.pressurePermille, 1e-3)),
		gauge("sluice_worker_sched_latency_p99_seconds", "The Go scheduler latency's 99th percentile over the CPU admission controller's last interval.",
			signal(&s.schedMicros, 1e-6)),
		gauge("sluice_worker_flush_lag_p99_seconds", "The flush lag's 99th percentile over the last load interval (the histogram sluice_worker_flush_lag_seconds has it since the start).",
			signal(&s.flushLagMicros, 1e-6)),
		gauge("sluice_worker_queued_bytes", "Response bytes queued by handlers across all streams and not yet written to the socket.",
			func() float64 { return float64(s.budget.Used()) }),
		gauge("sluice_worker_queue_limit_bytes", "Cap on queued response bytes across all streams: a handler's Write blocks beyond it.",
			limits(func(n, _, _ int64) int64 { return n })),
		gauge("sluice_worker_high_watermark_bytes", "Queued response bytes at or above which no new handler starts (live-tunable with PUT /config).",
			limits(func(_, n, _ int64) int64 { return n })),
		gauge("sluice_worker_low_watermark_bytes", "Queued response bytes to which the queue must fall before held-back handlers start again (live-tunable with PUT /config).",
			limits(func(_, _, n int64) int64 { return n })),
	)
	if b := s.recvBudget; b != nil {
		m.reg.MustRegister(
			gauge("sluice_worker_recv_budget_bytes", "Receive budget shared by every request body's window on this worker: what the parent may have sent and the handlers not yet read.",
				func() float64 { return float64(b.Limit()) }),
			gauge("sluice_worker_recv_buffered_bytes", "Request body bytes received from the parent and not yet read by a handler.",
				func() float64 { return float64(b.Buffered()) }),
		)
	}
	if sc, ok := conn.(syscall.Conn); ok {
		if _, err := sockopt.Unsent(sc); err == nil {
			m.reg.MustRegister(gauge("sluice_worker_socket_unsent_bytes",
				"Kernel memory held by data written to the worker's socket and not yet read by the parent (SIOCOUTQ). It counts buffer overhead, not payload bytes: compare it with sluice_worker_socket_sndbuf_bytes, not with queued bytes.",
				sockGauge(sc, sockopt.Unsent)))
		} else {
			s.log.Debug("sluice worker: no socket queue metric", "err", err)
		}
		if _, err := sockopt.SendBuffer(sc); err == nil {
			m.reg.MustRegister(gauge("sluice_worker_socket_sndbuf_bytes",
				"The worker socket's send buffer (SO_SNDBUF as the kernel reports it: on Linux twice the size requested, in the units of sluice_worker_socket_unsent_bytes).",
				sockGauge(sc, sockopt.SendBuffer)))
		}
	}
	return m
}

// sockGauge reads a socket figure at each scrape; NaN once the socket is
// gone.
func sockGauge(c syscall.Conn, read func(syscall.Conn) (int, error)) func() float64 {
	return func() float64 {
		n, err := read(c)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}
}

// observeFlush records one segment's flush lag; ipc's writer goroutine
// calls it through ipc.Config.OnFlushed.
func (m *metrics) observeFlush(lag time.Duration, _ int) {
	m.flushLag.Observe(lag.Seconds())
}
