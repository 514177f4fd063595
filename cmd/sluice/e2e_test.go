package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	return startGatewayEnv(t, nil, workers, args...)
}

// startGatewayEnv is startGateway with env added to the gateway's
// environment.
func startGatewayEnv(t *testing.T, env []string, workers int, args ...string) *gateway {
	t.Helper()
	g := launchGateway(t, env, append([]string{"--workers", fmt.Sprint(workers)}, args...)...)
	g.waitWorkersUp(workers)
	return g
}

// launchGateway is startGatewayEnv without waiting for the workers, for a
// gateway whose /status the helpers cannot reach (a token, a Unix socket).
func launchGateway(t *testing.T, env []string, args ...string) *gateway {
	t.Helper()
	return launchGatewayUnder(t, nil, env, args...)
}

// launchGatewayUnder is launchGateway with the binary run by the command
// wrap (such as prlimit and its options), which must exec it, so that the
// gateway keeps the wrapper's pid.
func launchGatewayUnder(t *testing.T, wrap, env []string, args ...string) *gateway {
	t.Helper()
	bin := sluiceBinary(t)
	all := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	argv := append(append(append([]string{}, wrap...), bin), all...)
	cmd := exec.Command(argv[0], argv[1:]...)
	// The race detector's default second of sleep at exit would be added
	// to every worker's stop and the gateway's.
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
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
	// The digest covers the bytes as sent, which the client would decode.
	req.Header.Set("Accept-Encoding", "identity")
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
