package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
	"github.com/sluicegw/sluice/parent"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sluiceBinary builds the real binary once per test run.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// gateway is a running `sluice serve` process.
type gateway struct {
	t     *testing.T
	cmd   *exec.Cmd
	addr  string
	admin string
	exit  chan error
	logs  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startGateway runs `sluice serve` on ephemeral loopback ports and waits
// until it listens and every worker is up.
func startGateway(t *testing.T, workers int, args ...string) *gateway {
	t.Helper()
	bin := sluiceBinary(t)
	all := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json", "--workers", fmt.Sprint(workers)}, args...)
	cmd := exec.Command(bin, all...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, cmd: cmd, exit: make(chan error, 1), logs: &lockedBuffer{}}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var listen, admin string
		for sc.Scan() {
			line := sc.Text()
			g.logs.Write([]byte(line + "\n"))
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil {
				switch rec.Msg {
				case "sluice listening":
					listen = rec.Addr
				case "admin listening":
					admin = rec.Addr
				}
				if listen != "" && admin != "" {
					addrs <- [2]string{listen, admin}
					listen = ""
				}
			}
		}
		g.exit <- cmd.Wait()
	}()
	t.Cleanup(func() {
		// Kill the whole group: parent and any worker it left.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-g.exit:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s", g.logs.String())
		}
	})
	select {
	case a := <-addrs:
		g.addr, g.admin = "http://"+a[0], "http://"+a[1]
	case err := <-g.exit:
		t.Fatalf("sluice serve exited: %v\n%s", err, g.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("sluice serve did not start listening\n%s", g.logs.String())
	}
	g.waitWorkersUp(workers)
	return g
}

func (g *gateway) status() parent.Status {
	g.t.Helper()
	resp, err := http.Get(g.admin + "/status")
	if err != nil {
		g.t.Fatalf("GET /status: %v", err)
	}
	defer resp.Body.Close()
	var st parent.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		g.t.Fatalf("decoding /status: %v", err)
	}
	return st
}

func (g *gateway) waitWorkersUp(n int) parent.Status {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := g.status()
		up := 0
		for _, w := range st.Workers {
			if w.State == "up" {
				up++
			}
		}
		if up >= n {
			return st
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%d of %d workers up after 30s: %+v", up, n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get fetches path with a digest request and checks status, the body
// against want (if not nil) and the Content-Digest trailer.
func get(t *testing.T, url string, want []byte) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set(digest.WantField, "sha-256=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	v := digest.NewVerifier()
	body, err := io.ReadAll(io.TeeReader(resp.Body, v))
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	if want != nil && !bytes.Equal(body, want) {
		t.Fatalf("GET %s: body of %d bytes differs from the expected %d", url, len(body), len(want))
	}
	if err := v.Check(resp.Trailer.Get(digest.Field)); err != nil {
		t.Fatalf("GET %s: digest: %v (trailer %q)", url, err, resp.Trailer.Get(digest.Field))
	}
	return body
}

func TestEndToEndPayloadExportFiles(t *testing.T) {
	root := t.TempDir()
	file := bytes.Repeat([]byte("sluice file\n"), 100000)
	if err := os.WriteFile(filepath.Join(root, "report.txt"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, 2, "--root", root)

	want, _ := io.ReadAll(demo.Payload(7, 5<<20))
	get(t, g.addr+"/payload?size=5MiB&seed=7", want)

	body := get(t, g.addr+"/export?rows=2000", nil)
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil || len(rows) != 2000 {
		t.Fatalf("export: %d rows, %v", len(rows), err)
	}
	get(t, g.addr+"/files/report.txt", file)

	resp, err := http.Get(g.addr + "/files/../etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("escape from root answered %d", resp.StatusCode)
	}
	resp, err = http.Get(g.addr + "/payload?size=12XB")
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(msg), "12XB") {
		t.Fatalf("bad size: %d %q", resp.StatusCode, msg)
	}
}

// TestWorkerKilledMidResponse: SIGKILL of the worker serving a response
// makes the client see an error, never a short 200 that looks complete, and
// a worker comes back.
func TestWorkerKilledMidResponse(t *testing.T) {
	g := startGateway(t, 1)
	before := g.status().Workers[0]
	resp, err := http.Get(g.addr + "/payload?size=8GiB")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatalf("first MiB: %v", err)
	}
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil {
		t.Fatalf("the body ended cleanly after %d more bytes although its worker was killed", n)
	}
	t.Logf("client saw: %v after %d more bytes", err, n)
	deadline := time.Now().Add(30 * time.Second)
	for {
		w := g.status().Workers[0]
		if w.State == "up" && w.PID != before.PID {
			if w.Restarts < 1 || !strings.Contains(w.LastExit, "killed") {
				t.Fatalf("worker back but status says restarts=%d last_exit=%q", w.Restarts, w.LastExit)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker back 30s after the kill: %+v", w)
		}
		time.Sleep(20 * time.Millisecond)
	}
	want, _ := io.ReadAll(demo.Payload(1, 1<<20))
	get(t, g.addr+"/payload?size=1MiB&seed=1", want)
}

// TestOverloadIsFast503: with every slot busy and a short queue timeout, a
// request is refused with 503 and Retry-After instead of waiting.
func TestOverloadIsFast503(t *testing.T) {
	g := startGateway(t, 1, "--max-inflight", "1", "--queue-timeout", "100ms")
	busy := make(chan error, 1)
	go func() {
		resp, err := http.Get(g.addr + "/payload?size=1KiB&cpu=3s")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		busy <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for g.status().Open < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the busy request never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.Get(g.addr + "/payload?size=1KiB")
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(msg), "no worker had room") {
		t.Fatalf("got %d Retry-After=%q %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
}

// TestSIGTERMDrains: in-flight responses complete, the parent exits 0 and
// leaves no worker behind.
func TestSIGTERMDrains(t *testing.T) {
	g := startGateway(t, 2)
	pids := []int{}
	for _, w := range g.status().Workers {
		pids = append(pids, w.PID)
	}
	want, _ := io.ReadAll(demo.Payload(3, 20<<20))
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(g.addr + "/payload?size=20MiB&seed=3&cpu=500ms")
		if err != nil {
			done <- err
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && !bytes.Equal(body, want) {
			err = errors.New("body differs")
		}
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for g.status().Open < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the request never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("in-flight request during drain: %v", err)
	}
	select {
	case err := <-g.exit:
		if err != nil {
			t.Fatalf("sluice serve exited with %v after SIGTERM; want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sluice serve did not exit after SIGTERM")
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Fatalf("worker %d still alive after the parent exited", pid)
		}
	}
}

var _ = context.Background
