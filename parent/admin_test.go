package parent

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
)

// TestTuneWithoutWorkers: PUT /config validates with the settings package,
// applies what the gateway owns and records what later workers get.
func TestTuneWithoutWorkers(t *testing.T) {
	g, err := New(Config{Workers: 1, WorkerMemoryLimit: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.AdminHandler())
	defer srv.Close()
	put := func(body string) (int, string) {
		req, _ := http.NewRequest("PUT", srv.URL+"/config", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct{ body, mention string }{
		{`{"max_inflight": -1}`, "max_inflight -1 is out of range; use 0 (automatic)"},
		{`{"max_inflight": 257}`, "1..256 (a worker's default stream limit)"},
		{`{"max_inflight": 1048577}`, "max_inflight 1048577"},
		{`{"queue_timeout": "soon"}`, "queue_timeout"},
		{`{"queue_timeout": "-1s"}`, "queue_timeout"},
		{`{"high_watermark": 0}`, "high_watermark"},
		{`{"high_watermark": 1000, "low_watermark": 2000}`, "low_watermark"},
		// Above the default high watermark (8 MiB) in force: no worker is
		// up to refuse it, and every later worker would.
		{`{"low_watermark": 999999999}`, "would refuse it: SLUICE_LOW_WATERMARK"},
		{`{"sched": "random"}`, "use sequential or round-robin"},
		{`{"queue_limit": 1}`, "--queue-limit"},
		{`{"admission": false}`, "--admission"},
		{`{"max_queue": 1}`, "max_queue"},
		{`not json`, "JSON"},
	} {
		if code, msg := put(c.body); code != http.StatusBadRequest || !strings.Contains(msg, c.mention) {
			t.Errorf("PUT /config %s: %d %q; want 400 naming %s", c.body, code, msg, c.mention)
		}
	}
	if len(g.sup.workerEnv()) != 0 {
		t.Fatalf("refused changes left worker environment %q", g.sup.workerEnv())
	}

	code, msg := put(`{"max_inflight": 3, "queue_timeout": "5s", "high_watermark": 16777216}`)
	var got struct {
		settings.Config
		MaxQueue int                        `json:"max_queue"`
		Workers  map[string]json.RawMessage `json:"workers"`
	}
	if err := json.Unmarshal([]byte(msg), &got); code != http.StatusOK || err != nil ||
		!got.Config.Equal(settings.Config{MaxInFlight: new(3), QueueTimeout: new("5s")}) || got.MaxQueue != DefaultMaxQueue || got.Workers == nil {
		t.Fatalf("PUT /config: %d %s (%v)", code, msg, err)
	}
	env := g.sup.workerEnv()
	for _, want := range []string{"SLUICE_MAX_INFLIGHT=3", "SLUICE_HIGH_WATERMARK=16777216"} {
		if !slices.Contains(env, want) {
			t.Errorf("workers started later get %q; want %s among them", env, want)
		}
	}
	if g.maxInFlight() != 3 || g.queueTimeout().String() != "5s" {
		t.Errorf("gateway in force: max_inflight %d, queue_timeout %v", g.maxInFlight(), g.queueTimeout())
	}
}

func TestStreamLimitIsTheWorkers(t *testing.T) {
	g, err := New(Config{Workers: 1, WorkerMemoryLimit: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if limit, id := g.streamLimit(); limit != ipc.DefaultMaxStreams || id != -1 {
		t.Errorf("no worker up: %d (worker %d); want ipc's default %d", limit, id, ipc.DefaultMaxStreams)
	}
	g.pool.add(&backend{id: 4, conn: ipcPair(t)})
	if limit, id := g.streamLimit(); limit != ipc.DefaultMaxStreams || id != 4 {
		t.Errorf("one worker up: %d (worker %d); want its hello's %d from worker 4", limit, id, ipc.DefaultMaxStreams)
	}
}
