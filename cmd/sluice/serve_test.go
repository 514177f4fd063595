package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeFlagsAndEnvReachTheGateway: serve's flags and their SLUICE_
// twins reach the gateway (the flag winning over its twin), and
// --worker-cmd runs the given worker: here a script that execs this
// binary's worker, recycled by --max-requests at its heartbeat.
func TestServeFlagsAndEnvReachTheGateway(t *testing.T) {
	bin := sluiceBinary(t)
	script := filepath.Join(t.TempDir(), "worker.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\nexec %q worker\n", bin)), 0o755); err != nil {
		t.Fatal(err)
	}
	g := startGatewayEnv(t, []string{"SLUICE_HEARTBEAT_INTERVAL=50ms", "SLUICE_LIVENESS_WINDOW=7s", "SLUICE_MAX_INFLIGHT=3"}, 1,
		"--worker-cmd", script, "--liveness-window", "3s", "--max-requests", "5")
	var start struct {
		MaxInFlight int           `json:"max_inflight"`
		Liveness    time.Duration `json:"liveness_window"`
		Heartbeat   time.Duration `json:"heartbeat_interval"`
	}
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"starting workers"`) {
			if err := json.Unmarshal([]byte(line), &start); err != nil {
				t.Fatal(err)
			}
		}
	}
	if start.MaxInFlight != 3 || start.Liveness != 3*time.Second || start.Heartbeat != 50*time.Millisecond {
		t.Fatalf("gateway started with %+v; want max_inflight 3 (env), liveness 3s (the flag over the env), heartbeat 50ms (env)", start)
	}
	first := g.status().Workers[0].PID
	for i := 0; i < 6; i++ {
		if err := fetch(g.addr + "/payload?size=1KiB"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(g.logs.String(), `"msg":"worker reached its request limit; recycling"`) || !strings.Contains(g.logs.String(), `"msg":"worker replaced`) {
		if time.Now().After(deadline) {
			t.Fatal("no recycling 10s after 6 requests with --max-requests 5")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w := g.waitWorkersUp(1).Workers[0]; w.PID == first || w.LastExit != "recycled" {
		t.Fatalf("after recycling: %+v", w)
	}
}

// TestServeRejectsBadFlagsAndEnv: a bad value, on the command line or in
// the environment, exits 2 naming it, before anything starts.
func TestServeRejectsBadFlagsAndEnv(t *testing.T) {
	expectRejected(t, []rejectCase{
		{args: []string{"--buffer-budget", "64KiB"}, want: "--buffer-budget 64KiB: too small"},
		{args: []string{"--buffer-budget", "0"}, want: "use at least 1MiB, or -1"},
		{env: "SLUICE_BUFFER_BUDGET=lots", want: "SLUICE_BUFFER_BUDGET"},
		{args: []string{"--max-requests", "many"}, want: "max-requests"},
		{args: []string{"--send-timeout", "-1s"}, want: "--send-timeout -1s: use 0 (never) or a positive duration"},
		{args: []string{"--body-timeout", "-1s"}, want: "--body-timeout -1s: use 0 (never) or a positive duration"},
		{args: []string{"--access-log", "off", "--access-log-file", "/tmp/x.log"}, want: "--access-log-file /tmp/x.log with --access-log off"},
		{env: "SLUICE_BODY_TIMEOUT=soon", want: "SLUICE_BODY_TIMEOUT"},
		{args: []string{"--body-min-rate", "-1"}, want: "--body-min-rate -1: use 0 (none) or bytes a second"},
		{env: "SLUICE_SEND_MIN_RATE=slow", want: "SLUICE_SEND_MIN_RATE"},
		{args: []string{"--worker-header-timeout", "-1s"}, want: "--worker-header-timeout -1s: use 0 (never) or a positive duration"},
		{env: "SLUICE_WORKER_IDLE_TIMEOUT=soon", want: "SLUICE_WORKER_IDLE_TIMEOUT"},
		{args: []string{"--max-inflight", "-1"}, want: "--max-inflight -1 is out of range; use 0 (automatic)"},
		{args: []string{"--queue-target", "200ms"}, want: "--queue-target 200ms is not shorter than --queue-interval 100ms"},
		{args: []string{"--queue-interval", "0s"}, want: "--queue-interval 0s: use at least 1ms"},
		{args: []string{"--retry-after", "2m"}, want: "--retry-after 2m0s and --max-retry-after 1m0s"},
		{env: "SLUICE_LIVENESS_WINDOW=soon", want: "SLUICE_LIVENESS_WINDOW"},
		{args: []string{"--workers", "1", "--liveness-window", "1s", "--heartbeat-interval", "1s"}, want: "LivenessWindow"},
		{args: []string{"--compress", "brotli"}, want: `--compress brotli (SLUICE_COMPRESS): coding "brotli" is not one a worker can apply`},
		{env: "SLUICE_COMPRESS=gzip;min=lots", want: "SLUICE_COMPRESS"},
	})
}
