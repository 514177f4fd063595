package parent

import "github.com/prometheus/client_golang/prometheus"

// Each worker's admission state as the parent sees it: its routing
// allowance, and its last load report. The report's gauges are named
// sluice_worker_load_*, apart from the worker's own /metrics families
// (sluice_worker_inflight...), which a scrape merges under the same worker
// label: a family of the same name would repeat their series.
var (
	descWorkerAllowance = prometheus.NewDesc("sluice_worker_allowance", "Requests the gateway may have open on the worker: the hard cap, or in automatic mode what its last load report allows (limit + 2 × blocked + draining, at most its streams less one).", []string{"worker"}, nil)
	descLoadLimit       = prometheus.NewDesc("sluice_worker_load_limit", "The worker's CPU admission limit, handlers that may compute at once, from its last load report.", []string{"worker"}, nil)
	descLoadComputing   = prometheus.NewDesc("sluice_worker_load_computing", "Handlers computing (running, not blocked on a slow client), from the worker's last load report.", []string{"worker"}, nil)
	descLoadBlocked     = prometheus.NewDesc("sluice_worker_load_blocked", "Running handlers blocked on a slow client, which do not count toward the limit, from the worker's last load report.", []string{"worker"}, nil)
	descLoadWaiting     = prometheus.NewDesc("sluice_worker_load_waiting", "Streams waiting at the worker's admission gate, from its last load report.", []string{"worker"}, nil)
	descLoadDraining    = prometheus.NewDesc("sluice_worker_load_draining", "Streams whose handler returned while their response is still being sent, from the worker's last load report.", []string{"worker"}, nil)
	descLoadQueued      = prometheus.NewDesc("sluice_worker_load_queued_bytes", "Response bytes the worker holds, queued and not yet written to its socket, from its last load report.", []string{"worker"}, nil)
	descLoadPressure    = prometheus.NewDesc("sluice_worker_load_cpu_pressure_ratio", "CPU pressure (share of the interval in which runnable work waited for a CPU) the worker's admission controller saw in its last interval, from its last load report.", []string{"worker"}, nil)
	descLoadSched       = prometheus.NewDesc("sluice_worker_load_sched_latency_p99_seconds", "The worker's Go scheduler latency at the 99th percentile over its controller's last interval, from its last load report.", []string{"worker"}, nil)
	descLoadFlushLag    = prometheus.NewDesc("sluice_worker_load_flush_lag_p99_seconds", "The worker's flush lag at the 99th percentile over its controller's last interval, from its last load report.", []string{"worker"}, nil)
)

var loadDescs = []*prometheus.Desc{descWorkerAllowance, descLoadLimit, descLoadComputing, descLoadBlocked, descLoadWaiting, descLoadDraining, descLoadQueued, descLoadPressure, descLoadSched, descLoadFlushLag}

// collectLoad sends w's admission gauges, for a worker that is up: a slot
// without one has no report to show, and 0 would read as a limit of 0.
func collectLoad(ch chan<- prometheus.Metric, w WorkerStatus) {
	if w.State != "up" && w.State != "draining" {
		return
	}
	id := itoa(w.ID)
	for _, m := range []struct {
		d *prometheus.Desc
		v float64
	}{
		{descWorkerAllowance, float64(w.Allowance)},
		{descLoadLimit, float64(w.Limit)},
		{descLoadComputing, float64(w.Computing)},
		{descLoadBlocked, float64(w.Blocked)},
		{descLoadWaiting, float64(w.Waiting)},
		{descLoadDraining, float64(w.Draining)},
		{descLoadQueued, float64(w.QueuedBytes)},
		{descLoadPressure, float64(w.PressurePermille) / 1000},
		{descLoadSched, float64(w.SchedLatencyMicros) / 1e6},
		{descLoadFlushLag, float64(w.FlushLagMicros) / 1e6},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.GaugeValue, m.v, id)
	}
}
