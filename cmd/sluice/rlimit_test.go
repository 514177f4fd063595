package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// rlimitHelperEnv makes TestRaiseFileLimitHelper act: the test binary is
// re-executed under prlimit to run it.
const rlimitHelperEnv = "SLUICE_TEST_RLIMIT_HELPER"

// TestRaiseFileLimitHelper is not a test of its own: re-executed under a
// chosen limit, it raises the limit as sluice serve does, logging to stdout,
// then prints the soft limit a child process starts with.
func TestRaiseFileLimitHelper(t *testing.T) {
	if os.Getenv(rlimitHelperEnv) == "" {
		t.Skip("run by TestRaiseFileLimit")
	}
	raiseFileLimit(slog.New(slog.NewJSONHandler(os.Stdout, nil)))
	out, err := exec.Command("sh", "-c", "ulimit -Sn").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("child_soft=" + strings.TrimSpace(string(out)) + "\n")
}

func TestRaiseFileLimit(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	cases := []struct {
		limit string
		msg   string
		attrs map[string]any
	}{
		// The runtime has raised 256 to 1023 by the time main runs, and
		// would give children 256 again.
		{"256:1024", "descriptor limit: raised the soft limit to the hard limit, for the workers too",
			map[string]any{"soft_was": 1023.0, "soft": 1024.0, "hard": 1024.0, "go_runtime_raised": true}},
		{"1024:1024", "descriptor limit: soft limit already at the hard limit",
			map[string]any{"soft": 1024.0, "hard": 1024.0}},
	}
	for _, tc := range cases {
		t.Run(tc.limit, func(t *testing.T) {
			cmd := exec.Command("prlimit", "--nofile="+tc.limit, os.Args[0], "-test.run=^TestRaiseFileLimitHelper$", "-test.v")
			cmd.Env = append(os.Environ(), rlimitHelperEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			var rec map[string]any
			for line := range strings.SplitSeq(string(out), "\n") {
				var r map[string]any
				if json.Unmarshal([]byte(line), &r) == nil && strings.HasPrefix(r["msg"].(string), "descriptor limit") {
					rec = r
				}
			}
			if rec == nil || rec["msg"] != tc.msg {
				t.Fatalf("descriptor limit record %v; want %q\n%s", rec, tc.msg, out)
			}
			for k, v := range tc.attrs {
				if rec[k] != v {
					t.Errorf("%s = %v; want %v", k, rec[k], v)
				}
			}
			if !strings.Contains(string(out), "child_soft=1024\n") {
				t.Fatalf("a child does not start with the soft limit 1024:\n%s", out)
			}
		})
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestServerErrorLogRateLimitsAcceptErrors(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l := newServerErrorLog(slog.New(slog.NewJSONHandler(&buf, nil)), time.Second, clock.now)
	accept := func(n int) {
		for range n {
			// As net/http's Server.Serve writes it.
			l.Printf("http: Accept error: %v; retrying in %v", errors.New("accept tcp [::]:8080: accept4: too many open files"), 5*time.Millisecond)
		}
	}
	records := func() []map[string]any {
		var out []map[string]any
		for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			out = append(out, r)
		}
		buf.Reset()
		return out
	}

	accept(1000)
	l.Printf("http: TLS handshake error from 192.0.2.1:1: EOF")
	recs := records()
	if len(recs) != 2 || recs[0]["suppressed_since_last"] != 0.0 || !strings.Contains(recs[0]["msg"].(string), "too many open files") {
		t.Fatalf("a flood of 1000 Accept errors and another line logged %v; want the first Accept error and the other line", recs)
	}
	if recs[1]["msg"] != "http: TLS handshake error from 192.0.2.1:1: EOF" || recs[1]["level"] != "WARN" {
		t.Fatalf("other server errors must pass as they are: %v", recs[1])
	}
	clock.add(999 * time.Millisecond)
	accept(10)
	if buf.Len() != 0 {
		t.Fatalf("logged within the second: %s", buf.String())
	}
	clock.add(time.Millisecond)
	accept(1)
	recs = records()
	if len(recs) != 1 || recs[0]["suppressed_since_last"] != 1009.0 {
		t.Fatalf("after a second: %v; want one line counting the 1009 held back", recs)
	}
}
