package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeFrontDoor: the real binary logs each request to its access log
// (JSON, to --access-log-file), returns an X-Request-Id, answers 413 over
// --max-body and 504 past --request-timeout, each logged with how it ended.
func TestServeFrontDoor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, 1, "--access-log", "json", "--access-log-file", path, "--max-body", "1KiB", "--request-timeout", "300ms")

	resp, err := http.Get(g.addr + "/payload?size=100")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 200 || len(id) != 32 {
		t.Fatalf("GET: %d, X-Request-Id %q", resp.StatusCode, id)
	}

	resp, err = http.Post(g.addr+"/payload", "application/octet-stream", bytes.NewReader(make([]byte, 2<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 2KiB POST over --max-body 1KiB: %d; want 413", resp.StatusCode)
	}

	resp, err = http.Get(g.addr + "/payload?size=100&wait=5s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("a 5s wait past --request-timeout 300ms: %d; want 504", resp.StatusCode)
	}

	var recs []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs = recs[:0]
		raw, _ := os.ReadFile(path)
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil {
				recs = append(recs, rec)
			}
		}
		if len(recs) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log after 10s: %q", raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []struct {
		status float64
		end    string
	}{{200, "complete"}, {413, "body_too_large"}, {504, "timeout"}}
	for i, w := range want {
		if recs[i]["status"] != w.status || recs[i]["end"] != w.end {
			t.Errorf("line %d: %v; want status %v, end %s", i, recs[i], w.status, w.end)
		}
	}
	if recs[0]["request_id"] != id || recs[0]["uri"] != "/payload?size=100" || recs[0]["pid"] == nil {
		t.Errorf("first line %v; want the id returned, the target with its query, the worker's pid", recs[0])
	}
}

// TestServeRejectsBadFrontDoorFlags: bad access log, timeout and body
// limit settings stop the start with status 2, naming the setting.
func TestServeRejectsBadFrontDoorFlags(t *testing.T) {
	expectRejected(t, []rejectCase{
		{args: []string{"--access-log", "xml"}, want: `--access-log "xml": use text, json or off`},
		{env: "SLUICE_ACCESS_LOG=combined", want: `--access-log "combined"`},
		{args: []string{"--request-timeout", "-1s"}, want: "--request-timeout -1s: use 0 (never)"},
		{args: []string{"--max-body", "-1"}, want: "--max-body -1: use 0 (no limit) or a size"},
		{env: "SLUICE_MAX_BODY=big", want: "SLUICE_MAX_BODY"},
		{args: []string{"--access-log-file", filepath.Join(t.TempDir(), "no", "such", "dir")}, want: "--access-log-file: open"},
	})
}

// rejectCase is a start of sluice serve that must fail: its arguments or
// one environment variable, and what the message must name.
type rejectCase struct {
	args []string
	env  string
	want string
}

// expectRejected starts sluice serve with each case and wants exit status
// 2 and a message naming the setting, before anything starts.
func expectRejected(t *testing.T, cases []rejectCase) {
	t.Helper()
	bin := sluiceBinary(t)
	for _, c := range cases {
		cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", ""}, c.args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("serve %v %s: %v\n%s\nwant exit 2 naming %s", c.args, c.env, err, out, c.want)
		}
	}
}
