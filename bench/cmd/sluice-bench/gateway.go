package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Bounds on the gateway's life cycle.
const (
	startTimeout = 30 * time.Second // until both addresses are logged and every worker is up
	stopTimeout  = 10 * time.Second // from SIGTERM to SIGKILL of the process group
	pollEvery    = 20 * time.Millisecond
)

// buildSluice runs `go build -o DIR/sluice ./cmd/sluice` in the module root
// (found with `go env GOMOD`) and returns the binary's path.
func buildSluice(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w; run sluice-bench with the go command on PATH", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("go env GOMOD is empty: run sluice-bench from inside the sluice module")
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sluice in %s: %v\n%s", cmd.Dir, err, out)
	}
	return bin, nil
}

// gateway is one running `sluice serve`, in its own process group, with
// stdout and stderr going to a log file.
type gateway struct {
	cmd     *exec.Cmd
	logPath string
	addr    string // HTTP, host:port
	admin   string // admin HTTP, host:port
	workers []int  // worker pids seen, killed on stop if they outlive the parent
	exited  chan struct{}
	waitErr error // valid once exited is closed
}

// startGateway starts `bin serve --listen 127.0.0.1:0 --admin-listen
// 127.0.0.1:0 --log-format json ARGS...` and waits until it has logged both
// addresses and /status shows every worker up. On error nothing is left
// running.
func startGateway(ctx context.Context, bin, logPath string, args []string) (*gateway, error) {
	return startGatewayVia(ctx, []string{bin}, logPath, args)
}

// startGatewayVia is startGateway with the binary given as a command line,
// so that a wrapper (one that joins a cgroup, say) can run it: the last
// word is the sluice binary, the ones before it run first.
func startGatewayVia(ctx context.Context, bin []string, logPath string, args []string) (*gateway, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the gateway log: %w", err)
	}
	defer f.Close() // the child holds its own descriptor
	full := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(bin[0], append(bin[1:], full...)...)
	cmd.Stdout, cmd.Stderr = f, f
	// The access log (on by default, on stdout) goes to the same log as
	// JSON, so that logNotes tells its lines from warnings; a gateway
	// older than the access log ignores the variable.
	cmd.Env = append(os.Environ(), "SLUICE_ACCESS_LOG=json")
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", strings.Join(cmd.Args, " "), err)
	}
	g := &gateway{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		g.waitErr = cmd.Wait()
		close(g.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := g.awaitReady(ctx); err != nil {
		g.stop()
		return nil, fmt.Errorf("sluice %s: %w\nlog tail:\n%s", strings.Join(full, " "), err, tail(logPath, 15))
	}
	return g, nil
}

// awaitReady polls the log for the two addresses, then /status until every
// worker is up.
func (g *gateway) awaitReady(ctx context.Context) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v: %w", startTimeout, ctx.Err())
		case <-g.exited:
			return fmt.Errorf("exited before it was ready: %v", g.waitErr)
		case <-tick.C:
		}
		if g.addr == "" || g.admin == "" {
			g.addr, g.admin = listenAddrs(g.logPath)
			continue
		}
		st, err := g.status(ctx)
		if err != nil {
			continue
		}
		up := len(st.Workers) > 0
		for _, w := range st.Workers {
			up = up && w.State == "up"
		}
		if up {
			g.noteWorkers(st)
			return nil
		}
	}
}

// listenAddrs finds the "sluice listening" and "admin listening" lines in
// the log and returns their addresses ("" for one not logged yet).
func listenAddrs(logPath string) (addr, admin string) {
	data, _ := os.ReadFile(logPath)
	for line := range bytes.Lines(data) {
		var l struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &l) != nil {
			continue
		}
		switch l.Msg {
		case "sluice listening":
			addr = l.Addr
		case "admin listening":
			admin = l.Addr
		}
	}
	return addr, admin
}

// gwStatus is the part of GET /status the bench reads.
type gwStatus struct {
	Workers []gwWorker `json:"workers"`
	Open    int        `json:"open_streams"`
	Waiting int        `json:"waiting_requests"`
}

// gwWorker is one worker in gwStatus.
type gwWorker struct {
	ID          int    `json:"id"`
	PID         int    `json:"pid"`
	State       string `json:"state"`
	Restarts    int    `json:"restarts"`
	InFlight    uint32 `json:"inflight"`
	QueuedBytes uint64 `json:"queued_bytes"`
	SendBuffer  int    `json:"parent_sndbuf_bytes"`
	RTT         string `json:"last_rtt"`
}

// status fetches and decodes GET ADMIN/status.
func (g *gateway) status(ctx context.Context) (gwStatus, error) {
	var st gwStatus
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := g.adminGet(ctx, "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// adminGet GETs path from the gateway's admin listener. Any status but 200
// is an error; otherwise the caller closes the body.
func (g *gateway) adminGet(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.admin+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp, nil
}

// noteWorkers remembers the worker pids in st, for stop.
func (g *gateway) noteWorkers(st gwStatus) {
	for _, w := range st.Workers {
		if w.PID > 0 && !slices.Contains(g.workers, w.PID) {
			g.workers = append(g.workers, w.PID)
		}
	}
}

// stop sends SIGTERM to the gateway, waits up to stopTimeout for it to drain
// and exit, then SIGKILLs its process group; workers that outlive it (they
// have process groups of their own) are killed too. It returns an error if
// the gateway did not exit cleanly with status 0. Safe to call twice.
func (g *gateway) stop() error {
	pid := g.cmd.Process.Pid
	var problems []string
	select {
	case <-g.exited:
	default:
		signalGroup(pid, syscall.SIGTERM, false)
		select {
		case <-g.exited:
		case <-time.After(stopTimeout):
			problems = append(problems, fmt.Sprintf("did not exit within %v of SIGTERM; killed", stopTimeout))
			signalGroup(pid, syscall.SIGKILL, true)
			<-g.exited
		}
	}
	if g.waitErr != nil && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("exited with %v after SIGTERM", g.waitErr))
	}
	// Workers die with their parent (Pdeathsig); give them a moment.
	deadline := time.Now().Add(2 * time.Second)
	for _, w := range g.workers {
		for alive(w) && time.Now().Before(deadline) {
			time.Sleep(pollEvery)
		}
		if alive(w) {
			signalGroup(w, syscall.SIGKILL, true)
			problems = append(problems, fmt.Sprintf("worker %d outlived the gateway; killed", w))
		}
	}
	g.workers = nil
	if len(problems) > 0 {
		return fmt.Errorf("gateway pid %d: %s", pid, strings.Join(problems, "; "))
	}
	return nil
}

// logNotes summarises the log of a finished gateway: the lines that are
// warnings or errors (or not JSON at all, like a panic), split at the
// "draining" line into those logged while the load ran and those logged
// during shutdown, with the first few of each.
func logNotes(logPath string, keep int) (run, shutdown logLines) {
	f, err := os.Open(logPath)
	if err != nil {
		return run, shutdown
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	cur := &run
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &l) == nil {
			// "signal received" opens the drain, whose lines start with
			// "draining" (older gateways logged just that).
			if l.Msg == "signal received" || strings.HasPrefix(l.Msg, "draining") {
				cur = &shutdown
			}
			if l.Level != "WARN" && l.Level != "ERROR" {
				continue
			}
		}
		cur.Count++
		if len(cur.First) < keep {
			cur.First = append(cur.First, line)
		}
	}
	return run, shutdown
}

// logLines counts notable log lines and keeps the first few.
type logLines struct {
	Count int      `json:"count"`
	First []string `json:"first,omitempty"`
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
