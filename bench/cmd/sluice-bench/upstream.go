package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
)

// upstreamEnv, when set, makes this binary the bench's Go upstream instead
// of the bench: the server behind nginx and "direct" in the small scenario,
// the naive peer's children, and the h2 scenario's bare net/http server. It
// serves child/demo's handler, so that they send the very bytes a sluice
// worker sends, on the Unix socket the variable names and on a TCP loopback
// port it prints as "tcp ADDR".
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
	// With digest.Handler, a client that asks for a Content-Digest trailer
	// gets one, as from sluice's worker; wrk and nginx do not ask.
	srv := &http.Server{Handler: digest.Handler(demo.New("")), ReadHeaderTimeout: 10 * time.Second}
	// h2c with prior knowledge too, for the h2 scenario's bare net/http
	// line: HTTP/1.1 clients (wrk, nginx) never send its preface.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
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

// upstream is a running Go upstream, in its own process group; addr is its
// TCP address.
type upstream struct {
	*listening
	sock string
}

// startUpstream re-executes this binary as the upstream on sock and waits
// for its TCP address. On error nothing is left running.
func startUpstream(ctx context.Context, sock, logPath string) (*upstream, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to re-execute as the upstream: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), upstreamEnv+"="+sock)
	l, err := startListening(ctx, cmd, logPath, "the Go upstream")
	if err != nil {
		return nil, err
	}
	return &upstream{listening: l, sock: sock}, nil
}
