package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// naiveEnv, when set, makes this binary the naive Go peer instead of the
// bench: the design sluice replaces, as a Go programmer would first write
// it. A parent process runs httputil.ReverseProxy, with its idle
// connections raised so that it does not redial per request, in front of
// peerWorkers children (this binary again, as the small scenario's
// upstream: child/demo's handler on plain net/http) on Unix sockets in the
// directory the variable names, round-robin, with no admission, no
// backpressure beyond what the sockets give, and no supervision.
const naiveEnv = "SLUICE_BENCH_NAIVE_DIR"

// naiveDispatch runs the naive peer and exits if this process was started
// as one; otherwise it returns at once.
func naiveDispatch() {
	dir, ok := os.LookupEnv(naiveEnv)
	if !ok {
		return
	}
	if err := serveNaive(dir); err != nil {
		fmt.Fprintln(os.Stderr, "sluice-bench naive peer:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// naiveCommand is the command that starts the naive peer, its sockets in a
// directory of its own under tmp.
func naiveCommand(tmp, name string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), naiveEnv+"="+filepath.Join(tmp, name+"-naive"))
	return cmd
}

// serveNaive starts the children, serves the proxy on a loopback port it
// prints as "tcp ADDR", and stops everything on SIGTERM or SIGINT.
func serveNaive(dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var socks []string
	for i := range peerWorkers {
		sock := filepath.Join(dir, fmt.Sprintf("child%d.sock", i))
		u, err := startUpstream(ctx, sock, filepath.Join(dir, fmt.Sprintf("child%d.log", i)))
		if err != nil {
			return err
		}
		defer u.stop()
		socks = append(socks, sock)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: naiveProxy(socks), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // owned here: Shutdown ends it, and it is received below
	fmt.Printf("tcp %s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// naiveProxy forwards each request to the next child in turn. The child is
// named by the outgoing URL's host ("child0", "child1" ...), which the
// transport's dialer maps to its socket.
func naiveProxy(socks []string) http.Handler {
	var next atomic.Uint64
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, _, _ := strings.Cut(addr, ":")
			i, err := strconv.Atoi(strings.TrimPrefix(host, "child"))
			if err != nil || i < 0 || i >= len(socks) {
				return nil, fmt.Errorf("no child %q", host)
			}
			return d.DialContext(ctx, "unix", socks[i])
		},
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "child" + strconv.Itoa(int(next.Add(1)%uint64(len(socks))))
		},
		Transport: tr,
	}
}
