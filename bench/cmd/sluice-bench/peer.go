package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A peer is one server the incident replays load: sluice with some flags,
// or another design of the same parent/child shape, each started and
// stopped by the bench and measured the same way (same client, same RSS
// sampling of its whole process tree).
type peer struct {
	name  string // in tables, JSON and log names
	about string // how it is built, for the report
	kind  peerKind
	args  []string // sluice's flags beyond --workers 2 and -gateway-args
}

// peerKind says how a peer is started.
type peerKind int

const (
	kindSluice peerKind = iota // `sluice serve`
	kindNaive                  // httputil.ReverseProxy in front of net/http children (naive.go)
	kindNginx                  // nginx in front of net/http children
	kindNode                   // bench/peers/node: workerParent forwarding to workerChild with res.pipe
)

// peerWorkers is how many worker processes every peer runs: the replays
// are about what happens between a parent and its children, on a machine
// with as many cores.
const peerWorkers = 2

// The peers of the replays.
var (
	sluicePeer        = peer{name: "sluice", about: "sluice serve, defaults", kind: kindSluice}
	sluiceSndbufPeer  = peer{name: "sluice-sndbuf-8KiB", about: "sluice serve --sndbuf 8KiB (Airtable's socket buffer)", kind: kindSluice, args: []string{"--sndbuf", "8KiB"}}
	sluiceNoAdmission = peer{name: "sluice-admission-off", about: "sluice serve --admission off (every request sent on at once)", kind: kindSluice, args: []string{"--admission", "off"}}
	naivePeer         = peer{name: "go-naive", about: "httputil.ReverseProxy (idle connections raised) in front of 2 net/http children on Unix sockets, no admission", kind: kindNaive}
	nginxPeer         = peer{name: "nginx", about: "nginx (2 workers, upstream keepalive 64, default proxy buffering) in front of 2 net/http children on Unix sockets", kind: kindNginx}
	nodePeer          = peer{name: "node", about: "Node.js workerParent forwarding to 2 workerChild processes over Unix sockets with res.pipe (bench/peers/node)", kind: kindNode}
)

// otherPeers are the designs that are not sluice, in the order they run.
var otherPeers = []peer{naivePeer, nginxPeer, nodePeer}

// isSluice reports whether p is a `sluice serve`, whose /status the bench
// can read.
func (p peer) isSluice() bool { return p.kind == kindSluice }

// trailers reports whether p carries a response's trailers to the client,
// so that its bodies can be checked against their Content-Digest trailer.
// nginx drops an upstream's trailers and Node's res.pipe never copies them:
// their bodies are checked by length only.
func (p peer) trailers() bool { return p.kind == kindSluice || p.kind == kindNaive }

// skip says why p cannot run on this machine ("" if it can).
func (e *env) skipPeer(p peer) string {
	switch p.kind {
	case kindNginx:
		_, why := findNginx(e.opt.nginxBin)
		return why
	case kindNode:
		_, why := findNode()
		return why
	}
	return ""
}

// running is a running peer: the address clients use, and the processes
// whose memory counts.
type running struct {
	peer  peer
	addr  string   // host:port
	gw    *gateway // the sluice gateway; nil for other peers
	roots []int    // each counts with its descendants
	stop  func() error
}

// target is g as the running peer p.
func (g *gateway) target(p peer) *running {
	return &running{peer: p, addr: g.addr, gw: g, roots: []int{g.cmd.Process.Pid}, stop: g.stop}
}

// startPeer starts p and waits until it serves; logName names its logs.
// On error nothing is left running.
func (e *env) startPeer(ctx context.Context, p peer, logName string) (*running, error) {
	switch p.kind {
	case kindSluice:
		args := append(append([]string{"--workers", fmt.Sprint(peerWorkers)}, e.opt.gatewayArgs...), p.args...)
		g, err := startGateway(ctx, e.bin, e.logPath(logName), args)
		if err != nil {
			return nil, err
		}
		return g.target(p), nil
	case kindNaive:
		l, err := startListening(ctx, naiveCommand(e.tmp, logName), e.logPath(logName), "the naive Go proxy")
		if err != nil {
			return nil, err
		}
		return &running{peer: p, addr: l.addr, roots: []int{l.pid()}, stop: l.stop}, nil
	case kindNginx:
		return e.startNginxPeer(ctx, p, logName)
	case kindNode:
		node, why := findNode()
		if why != "" {
			return nil, fmt.Errorf("node peer: %s", why)
		}
		dir, err := os.MkdirTemp(e.tmp, "node-")
		if err != nil {
			return nil, err
		}
		script, err := nodeScript("workerParent.js")
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(node, script, dir, fmt.Sprint(peerWorkers))
		l, err := startListening(ctx, cmd, e.logPath(logName), "the Node.js workerParent")
		if err != nil {
			return nil, err
		}
		return &running{peer: p, addr: l.addr, roots: []int{l.pid()}, stop: l.stop}, nil
	}
	return nil, fmt.Errorf("peer %s: unknown kind %d", p.name, p.kind)
}

// startNginxPeer starts the Go children and nginx in front of them.
func (e *env) startNginxPeer(ctx context.Context, p peer, logName string) (*running, error) {
	bin, why := findNginx(e.opt.nginxBin)
	if why != "" {
		return nil, fmt.Errorf("nginx peer: %s", why)
	}
	dir, err := os.MkdirTemp(e.tmp, "nginx-")
	if err != nil {
		return nil, err
	}
	var ups []*upstream
	var socks []string
	stopUps := func() {
		for _, u := range ups {
			u.stop()
		}
	}
	for i := range peerWorkers {
		sock := filepath.Join(dir, fmt.Sprintf("up%d.sock", i))
		u, err := startUpstream(ctx, sock, e.logPath(fmt.Sprintf("%s-upstream%d", logName, i)))
		if err != nil {
			stopUps()
			return nil, err
		}
		ups, socks = append(ups, u), append(socks, sock)
	}
	n, err := startNginx(ctx, bin, filepath.Join(dir, "nginx"), socks...)
	if err != nil {
		stopUps()
		return nil, err
	}
	roots := []int{n.cmd.Process.Pid}
	for _, u := range ups {
		roots = append(roots, u.cmd.Process.Pid)
	}
	return &running{peer: p, addr: n.addr, roots: roots, stop: func() error {
		n.stop()
		stopUps()
		return nil
	}}, nil
}

// listening is a process that printed "tcp ADDR" on its stdout once it
// served there, in its own process group.
type listening struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
}

func (l *listening) pid() int { return l.cmd.Process.Pid }

// startListening starts cmd (stderr to logPath) and waits for its "tcp
// ADDR" line. On error nothing is left running.
func startListening(ctx context.Context, cmd *exec.Cmd, logPath, what string) (*listening, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", what, err)
	}
	l := &listening{cmd: cmd, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() { // owned by l: it ends when the process's stdout closes, at its exit
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		for sc.Scan() {
		}
		cmd.Wait()
		close(l.exited)
	}()
	select {
	case line := <-lines:
		if addr, ok := strings.CutPrefix(line, "tcp "); ok {
			l.addr = addr
			return l, nil
		}
		l.stop()
		return nil, fmt.Errorf("%s said %q, want \"tcp ADDR\"", what, line)
	case <-l.exited:
		return nil, fmt.Errorf("%s exited at start:\n%s", what, tail(logPath, 10))
	case <-time.After(startTimeout):
	case <-ctx.Done():
	}
	l.stop()
	return nil, fmt.Errorf("%s did not start within %v", what, startTimeout)
}

// stop ends the process: SIGTERM, then SIGKILL to its group after
// stopTimeout. Its children die with it (they are started with Pdeathsig).
// Safe to call twice.
func (l *listening) stop() error {
	pid := l.pid()
	select {
	case <-l.exited:
		return nil
	default:
	}
	signalGroup(pid, syscall.SIGTERM, false)
	select {
	case <-l.exited:
	case <-time.After(stopTimeout):
		signalGroup(pid, syscall.SIGKILL, true)
		<-l.exited
	}
	return nil
}
