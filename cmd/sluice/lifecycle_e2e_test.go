package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// runServe runs `sluice serve` with args (and env added) to its end, which
// must come within a minute, and returns its exit status and output.
func runServe(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(sluiceBinary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "", "--workers", "1"}, args...)...)
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String()
	case <-time.After(time.Minute):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("serve %v still running after a minute:\n%s", args, out.String())
		return 0, ""
	}
}

// TestServeRefusesBadStartWithTheReason: each of these stops the start
// with exit status 2 and says why, before any worker starts.
func TestServeRefusesBadStartWithTheReason(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"--low-watermark", "8MiB", "--high-watermark", "1MiB"}, want: "--low-watermark 8MiB (SLUICE_LOW_WATERMARK): above SLUICE_HIGH_WATERMARK (1MiB)"},
		{args: []string{"--sndbuf", "1GiB"}, want: "--sndbuf 1GiB: too large; use at most 64MiB"},
		{args: []string{"--worker-cmd", filepath.Join(dir, "missing")}, want: "missing does not exist"},
		{args: []string{"--worker-cmd", "no-such-sluice-worker --flag"}, want: "no-such-sluice-worker is not in $PATH"},
		{args: []string{"--worker-cmd", file}, want: "plain is not executable"},
		{args: []string{"--worker-cmd", `"unterminated`}, want: "--worker-cmd"},
		{args: []string{"--root", filepath.Join(dir, "missing")}, want: "--root " + filepath.Join(dir, "missing") + ": stat"},
		{args: []string{"--root", file}, want: "plain: not a directory"},
		{args: []string{"--workers", "1", "stray"}, want: `unexpected argument "stray"`},
		{args: []string{"--queue-timeout", "5"}, want: `invalid duration "5": a unit is needed, like 5s`},
		{args: []string{"--drain-timeout", "soon"}, want: `invalid duration "soon": use a number and a unit`},
		{env: "SLUICE_QUEUE_TIMEOUT=5", want: `SLUICE_QUEUE_TIMEOUT="5": invalid duration "5": a unit is needed, like 5s`},
		{env: "SLUICE_SHUTDOWN_DELAY=2", want: `SLUICE_SHUTDOWN_DELAY="2": invalid duration "2": a unit is needed`},
		{args: []string{"--max-inflight", "300"}, want: "--max-inflight 300 is out of range; use 0 (automatic) or a hard cap of 1..256 (a worker's default stream limit)"},
	} {
		var env []string
		if c.env != "" {
			env = []string{c.env}
		}
		code, out := runServe(t, env, c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("serve %v %s: exit %d\n%s\nwant exit 2 saying %s", c.args, c.env, code, out, c.want)
		}
	}
}

// TestServeWarnsAboutUnknownEnv: a misspelt SLUICE_ variable is named in a
// warning at start, with the known name closest to it.
func TestServeWarnsAboutUnknownEnv(t *testing.T) {
	g := startGatewayEnv(t, []string{"SLUICE_QUEUE_TIMOUT=3s"}, 1)
	want := `"msg":"unknown SLUICE_ environment variable ignored","name":"SLUICE_QUEUE_TIMOUT","did_you_mean":"SLUICE_QUEUE_TIMEOUT"`
	if !strings.Contains(g.logs.String(), want) {
		t.Fatalf("no warning %s in the log", want)
	}
}

// TestServeStopsWhenTheFirstWorkerCannotBoot: a worker command that exits
// at once, or one that never completes its handshake within
// --worker-start-timeout, stops sluice serve with exit status 3 and the
// reason instead of a crash loop.
func TestServeStopsWhenTheFirstWorkerCannotBoot(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--worker-cmd", "false"}, "exit status 1"},
		{[]string{"--worker-cmd", "sleep 60", "--worker-start-timeout", "1s"}, "timeout"},
	} {
		code, out := runServe(t, nil, c.args...)
		if code != 3 || !strings.Contains(out, "sluice serve: worker 0 failed to boot") || !strings.Contains(out, c.want) {
			t.Errorf("serve %v: exit %d\n%s\nwant exit 3, worker 0 failed to boot, and %q", c.args, code, out, c.want)
		}
	}
}

// TestServeWorkerCmdTakesArguments: --worker-cmd is split like a shell
// does: a quoted path with a space, and a quoted argument with one.
func TestServeWorkerCmdTakesArguments(t *testing.T) {
	bin := sluiceBinary(t)
	dir := filepath.Join(t.TempDir(), "with space")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seen := filepath.Join(dir, "args")
	script := filepath.Join(dir, "worker.sh")
	body := fmt.Sprintf("#!/bin/sh\nprintf '%%s|%%s' \"$1\" \"$2\" > %q\nexec %q worker\n", seen, bin)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, 1, "--worker-cmd", fmt.Sprintf("%q 'two words' x", script))
	if err := fetch(g.addr + "/payload?size=1KiB"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(seen)
	if err != nil || string(got) != "two words|x" {
		t.Fatalf("the worker got %q (%v); want two words|x", got, err)
	}
}

// TestServeVersion: `sluice version` and `sluice --version` print the
// module, the VCS revision line and the Go version the binary was built
// with.
func TestServeVersion(t *testing.T) {
	bin := sluiceBinary(t)
	var outs []string
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("sluice %s: %v\n%s", arg, err, out)
		}
		for _, want := range []string{"sluice ", "module:   github.com/sluicegw/sluice\n", "revision: ", "go:       " + runtime.Version() + "\n"} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("sluice %s:\n%s\nwant %q", arg, out, want)
			}
		}
		outs = append(outs, string(out))
	}
	if outs[0] != outs[1] {
		t.Fatalf("version and --version differ:\n%s\n%s", outs[0], outs[1])
	}
}

// TestSIGTERMReadinessTurnsBeforeTheListenerCloses: after SIGTERM, /readyz
// answers 503 while the listener still accepts and serves for
// --shutdown-delay; only then are connections refused. A response still
// running at --drain-timeout is cut, the log counts it, and the exit status
// is 0.
func TestSIGTERMReadinessTurnsBeforeTheListenerCloses(t *testing.T) {
	g := startGateway(t, 1, "--shutdown-delay", "1500ms", "--drain-timeout", "1s")
	// A response that cannot finish: its client reads 1 MiB of 8 GiB.
	slow, err := http.Get(g.addr + "/payload?size=8GiB")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	if _, err := io.ReadFull(slow.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	// Every observation takes a number, so that their order is known
	// whatever the machine's speed.
	var seq atomic.Int64
	var first503, firstRefused, servedAfter503 atomic.Int64
	stop := make(chan struct{})
	addr := strings.TrimPrefix(g.addr, "http://")
	_, pollers := loadWith(func() error {
		defer time.Sleep(5 * time.Millisecond)
		resp, err := http.Get(g.admin + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if n := seq.Add(1); resp.StatusCode == 503 {
			first503.CompareAndSwap(0, n)
		}
		return nil
	}, 1, stop)
	_, dialers := loadWith(func() error {
		defer time.Sleep(5 * time.Millisecond)
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			firstRefused.CompareAndSwap(0, seq.Add(1))
			return err
		}
		defer c.Close()
		// A new connection is served while the listener accepts.
		fmt.Fprintf(c, "GET /payload?size=1KiB HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		if bytes.HasPrefix(b, []byte("HTTP/1.1 200")) && first503.Load() != 0 {
			servedAfter503.CompareAndSwap(0, seq.Add(1))
		}
		return nil
	}, 1, stop)
	time.Sleep(100 * time.Millisecond)
	g.cmd.Process.Signal(syscall.SIGTERM)
	exitErr := g.awaitExit("SIGTERM")
	close(stop)
	pollers.Wait()
	dialers.Wait()
	if exitErr != nil {
		t.Fatalf("sluice serve exited with %v after a drain that cut a response; want 0", exitErr)
	}
	r, f, s := first503.Load(), firstRefused.Load(), servedAfter503.Load()
	if r == 0 || f == 0 || r > f {
		t.Fatalf("observation %d was the first 503 of /readyz, %d the first refused connection; want the 503 first", r, f)
	}
	if s == 0 || s > f {
		t.Fatalf("no new connection served between the first 503 of /readyz (%d) and the first refusal (%d)", r, f)
	}
	if !strings.Contains(g.logs.String(), `"msg":"drain timeout: responses still in flight were cut","responses_cut":1`) {
		t.Fatal("the log does not count the response the drain timeout cut")
	}
}

// TestServeWarnsWhenMaxRSSIsBelowAFreshWorker: a --worker-max-rss no
// worker can start under is said once in the log, however many workers
// are recycled for it.
func TestServeWarnsWhenMaxRSSIsBelowAFreshWorker(t *testing.T) {
	g := startGateway(t, 1, "--worker-max-rss", "1MiB", "--heartbeat-interval", "100ms", "--liveness-window", "5s")
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(g.logs.String(), `"msg":"worker exceeds its memory limit; recycling"`) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 3 recyclings in 30 s with --worker-max-rss 1MiB")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(g.logs.String(), `"msg":"the memory limit is below a fresh worker's resident memory`); n != 1 {
		t.Fatalf("%d warnings that the limit is below a fresh worker; want 1", n)
	}
}

// TestSIGHUPDuringDrainIsIgnored: a SIGHUP that comes while sluice drains
// (a certificate renewer, logrotate) neither kills it nor restarts its
// workers: the drain goes on to its clean exit.
func TestSIGHUPDuringDrainIsIgnored(t *testing.T) {
	g := startGateway(t, 1, "--shutdown-delay", "1s")
	g.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(g.logs.String(), "draining: /readyz answers 503") {
		if time.Now().After(deadline) {
			t.Fatal("sluice serve did not start draining after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.cmd.Process.Signal(syscall.SIGHUP)
	exitErr := g.awaitExit("SIGTERM")
	if exitErr != nil {
		t.Fatalf("sluice serve exited with %v after a SIGHUP during its drain; want 0", exitErr)
	}
	if strings.Contains(g.logs.String(), "replacing workers") {
		t.Error("a SIGHUP during the drain started a rolling restart")
	}
}

// awaitExit waits for sluice serve to exit after what, and returns how; the
// cleanup can wait on it again.
func (g *gateway) awaitExit(what string) error {
	g.t.Helper()
	select {
	case err := <-g.exit:
		g.exit <- err
		return err
	case <-time.After(30 * time.Second):
		g.t.Fatalf("sluice serve did not exit after %s", what)
		return nil
	}
}
