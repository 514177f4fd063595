package parent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/sockopt"
)

// launcher starts workers. It is the supervisor's only way to make one, so
// that everything above it (handshake, routing, heartbeats, restarts,
// retiring, stopping) is the same code whether the worker is a process or,
// in tests, a child.Serve in the same binary.
type launcher interface {
	// launch starts worker id with env added to its environment and
	// returns its handle and the parent's end of its connection, on which
	// no handshake has happened yet. The error names the worker.
	launch(id int, env []string) (workerHandle, net.Conn, error)
}

// workerHandle controls one started worker.
type workerHandle interface {
	pid() int
	// signal delivers SIGTERM (finish and exit) or SIGKILL (end at once).
	signal(sig syscall.Signal)
	// exited is closed once the worker has ended and been reaped.
	exited() <-chan struct{}
	// exitStatus says how the worker ended ("exit status 1", "killed by
	// signal killed"); valid once exited is closed.
	exitStatus() string
	// rss is the worker's resident memory in bytes.
	rss() (int64, error)
	// sendBuffer is the effective SO_SNDBUF of the parent's end as the
	// kernel reports it, 0 if unknown.
	sendBuffer() int
}

// process is one running worker: its handle and its connection.
type process struct {
	id      int
	h       workerHandle
	conn    *ipc.Conn
	started time.Time
	// oom is the kernel's count of OOM kills that covers the worker, as
	// it was when it started (oomkill.go); set by the supervisor.
	oom oomCount
}

// spawn starts worker id and completes the handshake with it. Closing stop
// abandons a handshake still waiting (the gateway is shutting down): it
// would otherwise hold the shutdown for up to the start timeout.
func spawn(l launcher, cfg Config, env []string, id int, stop <-chan struct{}) (*process, error) {
	h, nc, err := l.launch(id, env)
	if err != nil {
		return nil, err
	}
	p := &process{id: id, h: h, started: time.Now()}
	shook := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() { // owned by spawn: it ends when the handshake does
		select {
		case <-stop:
			nc.Close()
		case <-shook:
		}
	})
	conn, err := ipc.Client(nc, cfg.IPC)
	close(shook)
	watch.Wait()
	if err == nil && isClosed(stop) {
		conn.Close()
		err = errors.New("the gateway is shutting down")
	}
	if err != nil {
		p.kill()
		<-p.exited()
		return nil, fmt.Errorf("worker %d (pid %d): handshake: %w (worker exit: %s)", id, p.pid(), err, p.exit())
	}
	p.conn = conn
	return p, nil
}

func (p *process) pid() int                { return p.h.pid() }
func (p *process) exited() <-chan struct{} { return p.h.exited() }

// exit says how the process ended; valid once exited is closed.
func (p *process) exit() string { return p.h.exitStatus() }

// kill sends SIGKILL; the handle reaps the process.
func (p *process) kill() { p.h.signal(syscall.SIGKILL) }

// terminate asks a hung worker to exit with SIGTERM and kills it if it has
// not after grace (a stopped or wedged process never handles SIGTERM).
func (p *process) terminate(grace time.Duration) {
	p.h.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited():
	case <-t.C:
		p.kill()
	}
}

// stop closes the connection (the worker exits when its connection ends),
// then waits up to timeout for the process before killing it.
func (p *process) stop(timeout time.Duration) {
	if p.conn != nil {
		p.conn.Close()
	}
	p.h.signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited():
	case <-t.C:
		p.kill()
		<-p.exited()
	}
}

// execLauncher starts each worker as a child process with one end of a
// fresh socketpair as its fd 3.
type execLauncher struct{ cfg Config }

func (l execLauncher) launch(id int, env []string) (workerHandle, net.Conn, error) {
	cfg := l.cfg
	local, remote, err := sockopt.Socketpair()
	if err != nil {
		return nil, nil, fmt.Errorf("worker %d: %w", id, err)
	}
	h := &execHandle{done: make(chan struct{})}
	if cfg.SendBuffer > 0 {
		eff, err := sockopt.SetSendBuffer(local, cfg.SendBuffer)
		h.sndbuf = eff
		var be *sockopt.BufferError
		if errors.As(err, &be) {
			cfg.Logger.Warn("parent socket send buffer smaller than asked", "worker", id, "err", err)
		} else if err != nil {
			cfg.Logger.Warn("cannot tune the parent socket send buffer", "worker", id, "err", err)
		}
	}

	args := cfg.WorkerCmd
	if len(args) == 0 {
		self, err := os.Executable()
		if err != nil {
			local.Close()
			remote.Close()
			return nil, nil, fmt.Errorf("worker %d: finding this binary to re-execute as a worker: %w; set --worker-cmd", id, err)
		}
		args = []string{self, "worker"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.ExtraFiles = []*os.File{remote} // settings.DefaultFD (3) in the child
	cmd.Env = append(os.Environ(),
		settings.EnvFD+"="+strconv.Itoa(settings.DefaultFD),
		settings.EnvWorkerID+"="+strconv.Itoa(id))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = workerSysProcAttr()
	err = cmd.Start()
	// The child has its copy now; ours must go at once, or a worker that
	// dies before its handshake leaves the socket open and the handshake
	// waits for its timeout instead of seeing EOF.
	remote.Close()
	if err != nil {
		local.Close()
		return nil, nil, fmt.Errorf("worker %d: starting %q: %w", id, args[0], err)
	}
	h.cmd = cmd
	go func() {
		// Owned by the handle: ends when the child is reaped, which the
		// supervisor guarantees by killing it if it does not exit.
		h.waitErr = cmd.Wait()
		close(h.done)
	}()
	return h, local, nil
}

// execHandle is a worker process started by execLauncher. Its one
// goroutine, started by launch, waits for the process and closes done; the
// supervisor owns it by making sure the process ends (process.stop kills
// what has not exited after StopTimeout).
type execHandle struct {
	cmd     *exec.Cmd
	sndbuf  int
	done    chan struct{} // closed once the process was reaped
	waitErr error         // set before done is closed
}

func (h *execHandle) pid() int                  { return h.cmd.Process.Pid }
func (h *execHandle) signal(sig syscall.Signal) { h.cmd.Process.Signal(sig) }
func (h *execHandle) exited() <-chan struct{}   { return h.done }
func (h *execHandle) exitStatus() string        { return exitDescription(h.waitErr) }
func (h *execHandle) rss() (int64, error)       { return residentBytes(h.pid()) }
func (h *execHandle) sendBuffer() int           { return h.sndbuf }

// exitDescription renders how a worker ended: exit code or signal.
func exitDescription(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	return err.Error()
}

// isClosed reports whether c is closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
