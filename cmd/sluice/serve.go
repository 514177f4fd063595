package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/parent"
)

func serve(args []string) int {
	fs := flag.NewFlagSet("sluice serve", flag.ContinueOnError)
	s := serveFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := applyEnv(fs); err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 2
	}
	if err := s.check(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 2
	}
	log := newLogger(s.logFormat)
	slog.SetDefault(log)

	cfg := parent.Config{
		Workers:       s.workers,
		WorkerEnv:     s.workerEnv(),
		SendBuffer:    int(s.sndbuf),
		MaxInFlight:   s.maxInFlight,
		QueueTimeout:  s.queueTimeout,
		QueueTarget:   s.cfgQueueTarget(),
		QueueInterval: s.queueInterval,
		RetryAfter:    s.retryAfter,
		MaxRetryAfter: s.maxRetryAfter,
		SendTimeout:   s.sendTimeout,
		MaxQueue:      s.maxQueue,
		IPC:           &ipc.Config{Logger: log},
		Logger:        log,

		HeartbeatInterval: s.heartbeat,
		LivenessWindow:    s.liveness,
		MaxRequests:       s.maxRequests,
		MaxRSS:            int64(s.maxRSS),
		WorkerMemoryLimit: int64(s.workerMemory),
		BufferBudget:      int64(s.bufferBudget),

		RequestTimeout: s.requestTimeout,
		MaxBody:        int64(s.maxBody),
	}
	accessLog, accessFormat, err := s.accessLogTo()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 2
	}
	cfg.AccessLog, cfg.AccessLogFormat = accessLog, accessFormat
	if s.admission == settings.AdmissionOff {
		// No gate anywhere: the parent sends every request on at once (up
		// to the protocol's stream limit), as a gateway without admission
		// control would.
		cfg.MaxInFlight = ipc.DefaultMaxStreams
	}
	if s.workerCmd != "" {
		cfg.WorkerCmd = []string{s.workerCmd}
	}
	gw, err := parent.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 2
	}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice serve: --listen %s: %v\n", s.listen, err)
		return 1
	}
	var admin *http.Server
	if s.adminListen != "" {
		aln, err := net.Listen("tcp", s.adminListen)
		if err != nil {
			ln.Close()
			fmt.Fprintf(os.Stderr, "sluice serve: --admin-listen %s: %v\n", s.adminListen, err)
			return 1
		}
		admin = &http.Server{Handler: gw.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go admin.Serve(aln)
		log.Info("admin listening", "addr", aln.Addr().String())
	}
	gw.Start()
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(gw.BeginDrain)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("sluice listening", "addr", ln.Addr().String())

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	var sig os.Signal
wait:
	for {
		select {
		case sig = <-sigs:
			break wait
		case err := <-served:
			log.Error("HTTP server failed", "err", err)
			break wait
		case <-hups:
			// Rolling restart: one worker at a time, the new one up before
			// the old one drains. New workers run the worker binary as it
			// is on disk now.
			log.Info("SIGHUP: replacing workers one at a time")
			go func() {
				if err := gw.Restart(context.Background()); err != nil {
					log.Warn("rolling restart interrupted", "err", err)
					return
				}
				log.Info("rolling restart done")
			}()
		}
	}
	signal.Stop(hups)
	log.Info("draining", "signal", fmt.Sprint(sig), "drain_timeout", s.drainTimeout)
	go func() {
		<-sigs
		log.Error("second signal: exiting without waiting")
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), s.drainTimeout)
	defer cancel()
	code := 0
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("in-flight responses did not finish within the drain timeout", "err", err)
		srv.Close()
		code = 1
	}
	if err := gw.Shutdown(ctx); err != nil {
		log.Warn("workers did not finish within the drain timeout", "err", err)
		code = 1
	}
	if admin != nil {
		admin.Close()
	}
	log.Info("stopped")
	return code
}
