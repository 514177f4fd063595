package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/child/demo"
)

// upstreamEnv, when set, makes this binary the small scenario's Go upstream
// instead of the bench: it serves child/demo's handler, so that nginx and
// "direct" send the very bytes a sluice worker sends, on the Unix socket the
// variable names and on a TCP loopback port it prints as "tcp ADDR".
const upstreamEnv = "SLUICE_BENCH_UPSTREAM_SOCKET"

// upstreamDispatch runs the upstream and exits if this process was started
// as one; otherwise it returns at once.
func upstreamDispatch() {
	sock, ok := os.LookupEnv(upstreamEnv)
	if !ok {
		return
	}
	if err := serveUpstream(sock); err != nil {
		fmt.Fprintln(os.Stderr, "sluice-bench upstream:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveUpstream serves until SIGTERM or SIGINT.
func serveUpstream(sock string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ul, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ul.Close()
		return err
	}
	srv := &http.Server{Handler: demo.New(""), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	for _, l := range []net.Listener{ul, tl} {
		go func() { errs <- srv.Serve(l) }() // owned here: Shutdown ends both, and both are received below
	}
	fmt.Printf("tcp %s\n", tl.Addr())
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	for range 2 - btoi(first != nil) {
		<-errs
	}
	if first != nil && !errors.Is(first, http.ErrServerClosed) {
		return first
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// upstream is a running Go upstream, in its own process group.
type upstream struct {
	cmd    *exec.Cmd
	sock   string
	tcp    string // host:port
	exited chan struct{}
}

// startUpstream re-executes this binary as the upstream on sock and waits
// for its TCP address. On error nothing is left running.
func startUpstream(ctx context.Context, sock, logPath string) (*upstream, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to re-execute as the upstream: %w", err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), upstreamEnv+"="+sock)
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the Go upstream: %w", err)
	}
	u := &upstream{cmd: cmd, sock: sock, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() { // owned by the upstream: it ends when the upstream's stdout closes, at its exit
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		for sc.Scan() {
		}
		cmd.Wait()
		close(u.exited)
	}()
	select {
	case l := <-lines:
		if addr, ok := strings.CutPrefix(l, "tcp "); ok {
			u.tcp = addr
			return u, nil
		}
		u.stop()
		return nil, fmt.Errorf("the Go upstream said %q, want \"tcp ADDR\"", l)
	case <-u.exited:
		return nil, fmt.Errorf("the Go upstream exited at start:\n%s", tail(logPath, 10))
	case <-time.After(startTimeout):
	case <-ctx.Done():
	}
	u.stop()
	return nil, fmt.Errorf("the Go upstream did not start within %v", startTimeout)
}

// stop ends the upstream: SIGTERM, then SIGKILL to its group after
// stopTimeout. Safe to call twice.
func (u *upstream) stop() {
	pid := u.cmd.Process.Pid
	select {
	case <-u.exited:
		return
	default:
	}
	signalGroup(pid, syscall.SIGTERM, false)
	select {
	case <-u.exited:
	case <-time.After(stopTimeout):
		signalGroup(pid, syscall.SIGKILL, true)
		<-u.exited
	}
}
