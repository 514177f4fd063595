package parent

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/ipc"
)

// TestStatusAndMetricsShowAdmissionState: after a known load report,
// /status and /metrics show the worker's admission limit, the signals
// behind it, what its handlers are doing, the bytes it holds, and the
// allowance the gateway routes by.
func TestStatusAndMetricsShowAdmissionState(t *testing.T) {
	e := gwStart(t, Config{QueueTimeout: gwWait})
	raw := e.addRawWorker(0)
	e.addSlot(0, raw.b)
	raw.peer.SendLoad(ipc.Load{InFlight: 7, Waiting: 3, Limit: 5, Blocked: 2, QueuedBytes: 123456,
		Draining: 4, PressurePermille: 250, SchedLatencyMicros: 1500, FlushLagMicros: 20000})
	// The worker's reply follows its report on the connection, so the
	// report has been read once the ping returns.
	ctx, cancel := context.WithTimeout(context.Background(), gwWait)
	defer cancel()
	if _, err := raw.conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	resp, body := e.adminDo("GET", "/status", "")
	var st struct {
		Workers []map[string]any `json:"workers"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || resp.StatusCode != 200 || len(st.Workers) != 1 {
		t.Fatalf("GET /status: %d %v\n%s", resp.StatusCode, err, body)
	}
	w := st.Workers[0]
	for field, want := range map[string]float64{
		"allowance": 13, "open_streams": 0, "limit": 5, "inflight": 7, "computing": 5, "blocked": 2,
		"waiting": 3, "draining": 4, "cpu_pressure_permille": 250, "sched_latency_p99_us": 1500,
		"flush_lag_p99_us": 20000, "queued_bytes": 123456,
	} {
		if got, ok := w[field].(float64); !ok || got != want {
			t.Errorf("/status %s = %v; want %v", field, w[field], want)
		}
	}
	if age, _ := w["load_age"].(string); age == "" {
		t.Errorf("/status load_age = %v; want the report's age", w["load_age"])
	}

	answered := make(chan struct{})
	go func() {
		defer close(answered)
		gwAnswerAdmin(t, raw, "GET", "/metrics", "200", "")
	}()
	fams, _ := e.gwScrape()
	gwRecv(t, answered, "the scrape of the worker")
	worker := map[string]string{"worker": "0"}
	for name, want := range map[string]float64{
		"sluice_worker_allowance":                      13,
		"sluice_worker_load_limit":                     5,
		"sluice_worker_load_computing":                 5,
		"sluice_worker_load_blocked":                   2,
		"sluice_worker_load_waiting":                   3,
		"sluice_worker_load_draining":                  4,
		"sluice_worker_load_queued_bytes":              123456,
		"sluice_worker_load_cpu_pressure_ratio":        0.25,
		"sluice_worker_load_sched_latency_p99_seconds": 0.0015,
		"sluice_worker_load_flush_lag_p99_seconds":     0.02,
		"sluice_gateway_max_inflight_per_worker":       0,
	} {
		labels := worker
		if name == "sluice_gateway_max_inflight_per_worker" {
			labels = nil
		}
		if got := gwSum(fams, name, labels); got != want {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
}
