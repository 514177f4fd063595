package parent

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/ipc"
)

// TestBufferBudgetSharedByWorkers: the streams of two workers share one
// receive budget, the metrics show it and the share of each stream, and
// every byte goes back once the responses are done.
func TestBufferBudgetSharedByWorkers(t *testing.T) {
	const budget, size = 4 << 20, 3 << 20
	e := gwStart(t, Config{Workers: 2, MaxInFlight: 1, BufferBudget: budget})
	rb := e.g.cfg.IPC.RecvBudget
	if rb == nil || rb.Limit() != budget {
		t.Fatalf("the gateway's receive budget is %v; want one of %d bytes", rb, budget)
	}
	started, release := make(chan struct{}, 2), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		started <- struct{}{}
		<-release
		w.Write(bytes.Repeat([]byte{'x'}, size))
	})
	w0, w1 := e.addWorker(0, h, nil), e.addWorker(1, h, nil)
	results := []<-chan gwResult{e.getAsync("/a"), e.getAsync("/b")}
	gwRecv(t, started, "the first handler")
	gwRecv(t, started, "the second handler")
	if w0.conn.NumStreams() != 1 || w1.conn.NumStreams() != 1 || rb.Windows() != 2 {
		t.Fatalf("streams: worker 0 %d, worker 1 %d, budget %d; want one each, both in the budget", w0.conn.NumStreams(), w1.conn.NumStreams(), rb.Windows())
	}
	for _, c := range []struct {
		name string
		want float64
	}{
		{"sluice_gateway_buffer_budget_bytes", budget},
		{"sluice_gateway_current_stream_window_bytes", budget / 2},
		{"sluice_gateway_stream_window_bytes", ipc.DefaultStreamWindow},
	} {
		if got := gwMetric(t, e.g, c.name, nil); got != c.want {
			t.Errorf("%s = %v; want %v", c.name, got, c.want)
		}
	}
	close(release)
	for _, ch := range results {
		r := gwRecv(t, ch, "a response")
		if r.err != nil || r.resp.StatusCode != 200 || len(r.body) != size {
			t.Fatalf("response: %v, %v, %d bytes", r.err, r.resp, len(r.body))
		}
	}
	gwUntil(t, "the budget is all given back", func() bool {
		return rb.Windows() == 0 && rb.Granted() == 0 && gwMetric(t, e.g, "sluice_gateway_buffered_bytes", nil) == 0
	})
}

// TestBufferBudgetSettings: the default, none, and a value too small.
func TestBufferBudgetSettings(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	g, err := New(Config{Workers: 1, WorkerMemoryLimit: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if rb := g.cfg.IPC.RecvBudget; rb == nil || rb.Limit() != DefaultBufferBudget {
		t.Fatalf("default receive budget %v; want %d bytes", rb, DefaultBufferBudget)
	}
	g, err = New(Config{Workers: 1, WorkerMemoryLimit: -1, BufferBudget: -1, IPC: &ipc.Config{StreamWindow: 1 << 20}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if g.cfg.IPC.RecvBudget != nil {
		t.Fatal("BufferBudget -1 still made a receive budget")
	}
	if got := gwMetric(t, g, "sluice_gateway_current_stream_window_bytes", nil); got != 1<<20 {
		t.Fatalf("current window without a budget = %v; want the stream window", got)
	}
	if got := gwMetric(t, g, "sluice_gateway_buffer_budget_bytes", nil); got != 0 {
		t.Fatalf("budget metric without a budget = %v; want it absent", got)
	}
	err = VerifyConfig(&Config{BufferBudget: 1000})
	if err == nil || !strings.Contains(err.Error(), "BufferBudget 1000") {
		t.Fatalf("VerifyConfig(BufferBudget 1000) = %v; want an error naming it", err)
	}
}
