//go:build unix

package child

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/sockopt"
)

// process is the test binary running as a worker, with the test as its
// parent over a socketpair.
type process struct {
	cmd    *exec.Cmd
	conn   *ipc.Conn
	exited chan error
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProcess(t *testing.T, env ...string) *process {
	t.Helper()
	local, remote, err := sockopt.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{exited: make(chan error, 1), stderr: &syncBuffer{}}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), childTestEnv+"=1", "SLUICE_FD=3", "SLUICE_LOG_FORMAT=text", "SLUICE_SNDBUF=1MiB")
	// Without this, a race-enabled worker sleeps a second before exiting 0.
	p.cmd.Env = append(p.cmd.Env, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.ExtraFiles = []*os.File{remote}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		local.Close()
		remote.Close()
		t.Fatalf("starting the worker: %v", err)
	}
	remote.Close()
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
		default:
			within(t, p.exited, "the worker process to be reaped")
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("worker stderr:\n%s", p.stderr.String())
		}
	})
	conn, err := ipc.Client(local, &ipc.Config{Logger: newLogSink(t).logger()})
	if err != nil {
		t.Fatalf("handshake with the worker process: %v", err)
	}
	p.conn = conn
	t.Cleanup(func() { conn.Close() })
	return p
}

// exit waits for the process to end and returns its exit code.
func (p *process) exit(t *testing.T) int {
	t.Helper()
	err := within(t, p.exited, "the worker process to exit")
	p.exited <- err // for the cleanup
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("waiting for the worker: %v", err)
	return -1
}

func (p *process) open(t *testing.T, path string) *ipc.Stream {
	t.Helper()
	st, err := p.conn.OpenStream(context.Background(), reqHead("GET", path), true)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMainServesAndExitsOnGoAway(t *testing.T) {
	p := startProcess(t)
	st := p.open(t, "/hello")
	if resp := readHead(t, st); resp.status != 200 {
		t.Errorf("status %d", resp.status)
	}
	if body := mustBody(t, st); body != "hello from a worker process" {
		t.Errorf("body %q", body)
	}
	p.conn.GoAway(ipc.CodeOK, "the test is done")
	if code := p.exit(t); code != 0 {
		t.Errorf("exit code %d after go-away, want 0", code)
	}
	if log := p.stderr.String(); !strings.Contains(log, "socket send buffer") || !strings.Contains(log, "effective=") {
		t.Errorf("the effective send buffer was not logged:\n%s", log)
	}
}

func TestMainFinishesHandlersOnSIGTERM(t *testing.T) {
	p := startProcess(t)
	st := p.open(t, "/signal")
	readHead(t, st) // the handler listens for the signal now
	p.cmd.Process.Signal(syscall.SIGTERM)
	if body := mustBody(t, st); body != "signalled" {
		t.Errorf("body %q", body)
	}
	if code := p.exit(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

func TestMainSecondSignalExitsAtOnce(t *testing.T) {
	p := startProcess(t)
	st := p.open(t, "/signal?hang=1")
	readHead(t, st)
	p.cmd.Process.Signal(syscall.SIGTERM)
	buf := make([]byte, len("signalled"))
	if _, err := io.ReadFull(st, buf); err != nil {
		t.Fatalf("reading: %v", err)
	}
	// The handler now hangs; the first signal was delivered to Run too.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exit(t); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %d after a second SIGTERM, want %d", code, 128+int(syscall.SIGTERM))
	}
}

func TestRunWithoutSocket(t *testing.T) {
	fd := 900
	for ; ; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == unix.EBADF {
			break
		}
	}
	t.Setenv("SLUICE_FD", strconv.Itoa(fd))
	err := Run(http.NotFoundHandler(), &Config{Logger: newLogSink(t).logger()})
	if err == nil || !strings.Contains(err.Error(), "no socket on fd "+strconv.Itoa(fd)) || !strings.Contains(err.Error(), "sluice serve --worker-cmd") {
		t.Errorf("Run without a socket: %v", err)
	}
}

func TestRunNotASocket(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "not-a-socket")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv("SLUICE_FD", strconv.Itoa(int(f.Fd())))
	err = Run(http.NotFoundHandler(), &Config{Logger: newLogSink(t).logger()})
	if err == nil || !strings.Contains(err.Error(), "it is a regular file") {
		t.Errorf("Run on a regular file: %v", err)
	}
	if _, serr := f.Stat(); serr != nil {
		t.Errorf("Run closed the descriptor it rejected: %v", serr)
	}
}

func TestRunBadFD(t *testing.T) {
	t.Setenv("SLUICE_FD", "three")
	err := Run(http.NotFoundHandler(), &Config{Logger: newLogSink(t).logger()})
	if err == nil || !strings.Contains(err.Error(), `SLUICE_FD="three"`) {
		t.Errorf("Run with SLUICE_FD=three: %v", err)
	}
}
