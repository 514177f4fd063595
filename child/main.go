package child

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/sluicegw/sluice/sockopt"
)

// Main makes a program a sluice worker: it runs handler for every request
// the parent sends over the socket it inherited, with the settings of the
// environment (see MainConfig), and exits. Call it from main:
//
//	func main() { child.Main(myHandler) }
//
// and start the program with `sluice serve --worker-cmd`. It exits 0 after
// an orderly stop (the parent's go-away, or SIGTERM or SIGINT once running
// handlers finished), 2 if the environment is wrong, 1 on any other error.
func Main(handler http.Handler) {
	cfg, err := MainConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice worker:", err)
		os.Exit(2)
	}
	if err := Run(handler, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Run does what Main does but returns instead of exiting: it finds the
// socket inherited from the parent (the descriptor in SLUICE_FD, default 3),
// sets its send buffer to cfg.SendBuffer and logs the size the kernel
// granted, then serves until the parent sends go-away or closes the
// connection. On SIGTERM or SIGINT it stops accepting, lets running handlers
// finish and returns nil; a second signal exits the process at once. A nil
// cfg means MainConfig's.
func Run(handler http.Handler, cfg *Config) error {
	if cfg == nil {
		var err error
		if cfg, err = MainConfig(); err != nil {
			return fmt.Errorf("sluice worker: %w", err)
		}
	}
	if err := VerifyConfig(cfg); err != nil {
		return fmt.Errorf("sluice worker: %w", err)
	}
	set := cfg.settings()
	conn, fd, err := inheritedSocket()
	if err != nil {
		return err
	}
	if set.sendBuffer > 0 {
		// A small send buffer multiplies the wake-ups a response needs
		// to leave, and each waits behind busy handlers
		// (docs/ARCHITECTURE.md, "Starved flushing").
		eff, err := sockopt.SetSendBuffer(conn, set.sendBuffer)
		var be *sockopt.BufferError
		switch {
		case errors.As(err, &be):
			set.log.Warn("sluice worker: the socket's send buffer is smaller than asked", "fd", fd, "err", err)
		case err != nil:
			set.log.Warn("sluice worker: cannot set the socket's send buffer; going on with the kernel's default", "fd", fd, "requested", set.sendBuffer, "err", err)
		default:
			set.log.Info("sluice worker: socket send buffer", "fd", fd, "requested", set.sendBuffer, "effective", eff)
		}
	}
	ctx, stop := shutdownSignals(set.log)
	defer stop()
	return Serve(ctx, conn, handler, cfg)
}

// shutdownSignals returns a context that ends at the first SIGTERM or
// SIGINT; a second one exits the process at once, for an operator who does
// not want to wait for running handlers. stop releases the signals.
func shutdownSignals(log *slog.Logger) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case sig := <-sigs:
			log.Info("sluice worker: signal received; finishing running handlers (send it again to exit at once)", "signal", sig.String())
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			log.Warn("sluice worker: second signal; exiting without waiting for running handlers", "signal", sig.String())
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s) // the shell's convention for "killed by"
			}
			os.Exit(code)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
		cancel()
	}
}
