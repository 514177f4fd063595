package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/parent"
)

func serve(args []string) int {
	fs := flag.NewFlagSet("sluice serve", flag.ContinueOnError)
	s := serveFlags(fs)
	clearerDurations(fs)
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
	if err := s.checkStart(fs); err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 2
	}
	if err := s.check(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 2
	}
	log := newLogger(s.logFormat)
	slog.SetDefault(log)
	warnUnknownEnv(log, fs, os.Environ())
	raiseFileLimit(log)
	tuneGC(log)

	cfg := parent.Config{
		Workers:       s.workers,
		WorkerEnv:     s.workerEnv(),
		SendBuffer:    int(s.sndbuf),
		MaxInFlight:   s.maxInFlight,
		QueueTimeout:  s.queueTimeout,
		QueueTarget:   s.cfgQueueTarget(),
		LightCPU:      s.cfgLightCPU(),
		QueueInterval: s.queueInterval,
		RetryAfter:    s.retryAfter,
		MaxRetryAfter: s.maxRetryAfter,
		SendTimeout:   s.sendTimeout,
		BodyTimeout:   s.bodyTimeout,
		BodyMinRate:   int64(s.bodyMinRate),
		SendMinRate:   int64(s.sendMinRate),
		MaxQueue:      s.maxQueue,
		IPC:           &ipc.Config{Logger: log},
		Logger:        log,

		HeartbeatInterval: s.heartbeat,
		LivenessWindow:    s.liveness,
		MaxRequests:       s.maxRequests,
		StartTimeout:      s.workerStartTimeout,
		MaxRSS:            int64(s.maxRSS),
		MaxHeaderBytes:    int(s.maxHeaderBytes),
		WorkerMemoryLimit: int64(s.workerMemory),
		BufferBudget:      int64(s.bufferBudget),

		RequestTimeout: s.requestTimeout,
		MaxBody:        int64(s.maxBody),

		WorkerHeaderTimeout: s.workerHeaderTimeout,
		WorkerIdleTimeout:   s.workerIdleTimeout,
	}
	accessLog, accessFormat, err := s.accessLogTo()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 2
	}
	cfg.AccessLog, cfg.AccessLogFormat = accessLog, accessFormat
	if s.admission == settings.AdmissionOff {
		// No gate anywhere: the parent sends every request on at once (up
		// to the largest hard cap), as a gateway without admission control
		// would.
		cfg.MaxInFlight = ipc.DefaultMaxStreams
	}
	cfg.WorkerCmd = s.workerArgv
	gw, err := parent.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 2
	}
	fr, err := listenFront(s, gw, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 1
	}
	ln, srv := fr.ln, fr.srv
	srv.ErrorLog = serverErrorLog(log)
	admin, err := serveAdmin(s, gw, log)
	if err != nil {
		ln.Close()
		fmt.Fprintln(os.Stderr, "sluice serve:", err)
		return 1
	}
	gw.Start()
	open := &inflight{}
	srv.Handler = open.wrap(srv.Handler)
	srv.RegisterOnShutdown(gw.ShutdownStarted)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("sluice listening", "addr", ln.Addr().String())

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	var sig os.Signal
	code := 0
wait:
	for {
		select {
		case sig = <-sigs:
			break wait
		case err := <-gw.BootFailed():
			return bootFailed(log, gw, srv, admin, err)
		case err := <-served:
			log.Error("HTTP server failed", "err", err)
			code = 1
			break wait
		case <-hups:
			fr.reloadCert()
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
	// From here a SIGHUP is ignored, not restored to its default action
	// (exit), which would cut every response the drain is waiting for.
	signal.Ignore(syscall.SIGHUP)
	signal.Stop(hups)
	log.Info("signal received", "signal", fmt.Sprint(sig))
	go func() {
		<-sigs
		log.Error("second signal: exiting without waiting")
		os.Exit(1)
	}()
	drain(log, gw, srv, open, s.shutdownDelay, s.drainTimeout)
	if admin != nil {
		admin.Close()
	}
	log.Info("stopped")
	return code
}
