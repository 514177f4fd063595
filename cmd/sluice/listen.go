package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sys/unix"

	"github.com/sluicegw/sluice/parent"
)

// unixPrefix marks a listen address as a Unix socket path, as gunicorn's
// -b unix:PATH does.
const unixPrefix = "unix:"

// front is the client listener and its server.
type front struct {
	ln    net.Listener
	srv   *http.Server
	certs *certReloader // nil without TLS
	log   *slog.Logger
}

// reloadCert loads --tls-cert and --tls-key again (on SIGHUP); without
// TLS it does nothing.
func (f *front) reloadCert() {
	if f.certs != nil {
		f.certs.reload(f.log)
	}
}

// listenFront opens --listen with the connection limit, the timeouts, the
// head limit and the protocols the settings ask for; srv.Serve(ln) serves
// it, and closing ln (Shutdown does) removes a Unix socket's file.
func listenFront(s *serveSettings, gw *parent.Gateway, log *slog.Logger) (*front, error) {
	ln, err := listenAddr(s.listen, os.FileMode(s.listenMode))
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", s.listen, err)
	}
	maxConns, why := s.maxConns, "--max-conns"
	if maxConns == 0 {
		maxConns, why = defaultMaxConns(gw.Workers())
	}
	log.Info("connection limit", "max_conns", maxConns, "from", why)
	ln = gw.LimitListener(ln, maxConns)
	srv := &http.Server{
		Handler:           gw,
		ConnState:         gw.ConnState,
		ConnContext:       gw.ConnContext,
		ReadHeaderTimeout: s.headerTimeout,
		IdleTimeout:       s.idleTimeout,
		MaxHeaderBytes:    parent.ServerMaxHeaderBytes(int(s.maxHeaderBytes)),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(s.h2c)
	if s.certs == nil {
		ln = gw.GuardFraming(srv, ln)
	} else {
		srv.Protocols.SetHTTP2(true)
		srv.TLSConfig = s.certs.tlsConfig()
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	return &front{ln: ln, srv: srv, certs: s.certs, log: log}, nil
}

// adminMaxConns bounds the admin listener's connections: operators and a
// scraper need a few, and the front's default limit leaves room for these.
const adminMaxConns = 64

// serveAdmin serves the admin endpoints on --admin-listen behind the
// token and Host checks, or returns nil when it is empty.
func serveAdmin(s *serveSettings, gw *parent.Gateway, log *slog.Logger) (*http.Server, error) {
	if s.adminListen == "" {
		return nil, nil
	}
	ln, err := listenAddr(s.adminListen, os.FileMode(s.listenMode))
	if err != nil {
		return nil, fmt.Errorf("--admin-listen %s: %w", s.adminListen, err)
	}
	guard := s.adminGuard()
	admin := &http.Server{
		Handler:           guard.Wrap(gw.AdminHandler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       s.idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go admin.Serve(netutil.LimitListener(ln, adminMaxConns))
	log.Info("admin listening", "addr", ln.Addr().String(), "token", guard.Token != "", "host_check", guard.CheckHost)
	return admin, nil
}

// adminGuard is the admin's token and Host check from the settings. A
// Unix socket gets no Host check: no browser reaches one.
func (s *serveSettings) adminGuard() parent.AdminGuard {
	g := parent.AdminGuard{Token: s.adminToken}
	if strings.HasPrefix(s.adminListen, unixPrefix) {
		return g
	}
	g.CheckHost = true
	if host, _, err := net.SplitHostPort(s.adminListen); err == nil && host != "" {
		g.Hosts = append(g.Hosts, host)
	}
	for h := range strings.SplitSeq(s.adminAllowHost, ",") {
		if h = strings.TrimSpace(h); h != "" {
			g.Hosts = append(g.Hosts, h)
		}
	}
	return g
}

// listenAddr listens on host:port, or on a Unix socket for unix:PATH with
// mode for its file.
func listenAddr(addr string, mode os.FileMode) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, unixPrefix)
	if !ok {
		return net.Listen("tcp", addr)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The file exists with the umask's mode until this: a client that
	// connects in between is one the umask let in.
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// removeStaleSocket removes a socket file left by a process that is gone
// (a SIGKILL leaves it), so that Listen can bind its path again; it
// refuses a path where something still listens, or that is not a socket.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another process listens on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: telling whether it is stale: %w", path, err)
	}
	return os.Remove(path)
}

// defaultMaxConns is --max-conns when 0: the descriptors the process may
// open (RLIMIT_NOFILE's soft limit, read now) less a reserve: 4 for each
// worker (its socket, the pipes of its output, its pidfd), adminMaxConns
// for the admin listener, and 64 for the rest of the process (listeners,
// the epoll descriptor, files the Go runtime opens). At least 1.
func defaultMaxConns(workers int) (int, string) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 1024, fmt.Sprintf("nginx's worker_connections default: reading RLIMIT_NOFILE: %v", err)
	}
	reserve := 4*workers + adminMaxConns + 64
	soft := min(lim.Cur, 1<<30)
	n := max(1, int(soft)-reserve)
	return n, "RLIMIT_NOFILE " + strconv.FormatUint(lim.Cur, 10) + " less " + strconv.Itoa(reserve) + " (64, 64 admin connections, 4 per worker)"
}
