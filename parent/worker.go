package parent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/sockopt"
)

// process is one running worker: the child process and its connection.
type process struct {
	id      int
	cmd     *exec.Cmd
	conn    *ipc.Conn
	sndbuf  int // effective SO_SNDBUF of the parent's end, as the kernel reports it
	started time.Time
	exited  chan struct{} // closed once the process was reaped
	waitErr error         // set before exited is closed
}

// spawn starts worker id with one end of a fresh socketpair as its fd 3 and
// completes the handshake with it.
func spawn(cfg Config, env []string, id int) (*process, error) {
	local, remote, err := sockopt.Socketpair()
	if err != nil {
		return nil, fmt.Errorf("worker %d: %w", id, err)
	}
	p := &process{id: id, exited: make(chan struct{})}
	if cfg.SendBuffer > 0 {
		eff, err := sockopt.SetSendBuffer(local, cfg.SendBuffer)
		p.sndbuf = eff
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
			return nil, fmt.Errorf("worker %d: finding this binary to re-execute as a worker: %w; set --worker-cmd", id, err)
		}
		args = []string{self, "worker"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.ExtraFiles = []*os.File{remote} // fd 3 in the child
	cmd.Env = append(os.Environ(), "SLUICE_FD=3", "SLUICE_WORKER_ID="+strconv.Itoa(id))
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
		return nil, fmt.Errorf("worker %d: starting %q: %w", id, args[0], err)
	}
	p.cmd = cmd
	p.started = time.Now()
	go func() {
		// Owned by the process: ends when the child is reaped, which
		// Supervisor guarantees by killing it if it does not exit.
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	conn, err := ipc.Client(local, cfg.IPC)
	if err != nil {
		p.kill()
		<-p.exited
		return nil, fmt.Errorf("worker %d (pid %d): handshake: %w (worker exit: %s)", id, cmd.Process.Pid, err, exitDescription(p.waitErr))
	}
	p.conn = conn
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL; the process is reaped by its wait goroutine.
func (p *process) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
}

// terminate asks a hung worker to exit with SIGTERM and kills it if it has
// not after grace (a stopped or wedged process never handles SIGTERM).
func (p *process) terminate(grace time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
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
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		p.kill()
		<-p.exited
	}
}

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
