package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/parent"
)

// fileMode is a permission mode in octal (0660).
type fileMode os.FileMode

func (m *fileMode) String() string { return fmt.Sprintf("%#o", uint32(*m)) }
func (m *fileMode) Set(v string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("want permission bits in octal, 0000..0777 (e.g. 0660)")
	}
	*m = fileMode(n)
	return nil
}

// checkListen refuses front-door settings that cannot work or that
// would expose the admin, and loads what they name (the TLS pair, the
// admin token file), so that a bad one stops the start with its reason.
func (s *serveSettings) checkListen() error {
	for _, a := range []struct{ flag, addr string }{{"--listen", s.listen}, {"--admin-listen", s.adminListen}} {
		if err := checkAddr(a.addr); err != nil && (a.addr != "" || a.flag == "--listen") {
			return fmt.Errorf("%s %q: %v", a.flag, a.addr, err)
		}
	}
	switch {
	case s.idleTimeout < 0:
		return fmt.Errorf("--idle-timeout %v: use 0 (never) or a positive duration", s.idleTimeout)
	case s.headerTimeout < 0:
		return fmt.Errorf("--header-timeout %v: use 0 (none) or a positive duration", s.headerTimeout)
	case s.maxHeaderBytes < parent.MinMaxHeaderBytes || s.maxHeaderBytes > parent.HeadFrameLimit:
		return fmt.Errorf("--max-header-bytes %s: use %s..%s: a worker's HEAD frame carries at most %s", s.maxHeaderBytes.String(), sizeString(parent.MinMaxHeaderBytes), sizeString(parent.HeadFrameLimit), sizeString(parent.HeadFrameLimit))
	case s.maxConns < -1:
		return fmt.Errorf("--max-conns %d: use 0 (from RLIMIT_NOFILE), -1 (none) or a count", s.maxConns)
	case (s.tlsCert == "") != (s.tlsKey == ""):
		return fmt.Errorf("--tls-cert %q and --tls-key %q: give both or neither", s.tlsCert, s.tlsKey)
	case s.h2c && s.tlsCert != "":
		return fmt.Errorf("--h2c is cleartext HTTP/2; with --tls-cert, HTTP/2 is negotiated by TLS already: drop --h2c")
	case s.adminToken != "" && s.adminTokenFile != "":
		return fmt.Errorf("--admin-token and --admin-token-file: give one")
	}
	if s.tlsCert != "" {
		certs, err := newCertReloader(s.tlsCert, s.tlsKey)
		if err != nil {
			return err
		}
		s.certs = certs
	}
	if s.adminTokenFile != "" {
		b, err := os.ReadFile(s.adminTokenFile)
		if err != nil {
			return fmt.Errorf("--admin-token-file: %v", err)
		}
		if s.adminToken = strings.TrimSpace(string(b)); s.adminToken == "" {
			return fmt.Errorf("--admin-token-file %s is empty", s.adminTokenFile)
		}
	}
	// Workers inherit this environment: the token is the parent's alone.
	os.Unsetenv(envName("admin-token"))
	return s.checkAdminExposure()
}

// checkAddr accepts host:port and unix:/absolute/path.
func checkAddr(addr string) error {
	if path, ok := strings.CutPrefix(addr, unixPrefix); ok {
		if !filepath.IsAbs(path) {
			return fmt.Errorf("a Unix socket needs an absolute path (unix:/run/sluice.sock)")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("use host:port or unix:/path: %v", err)
	}
	return nil
}

// checkAdminExposure refuses an admin listener that hosts beyond this
// machine could reach without a token, and one on a wildcard address
// whose Host names are not given (its own Host check would refuse every
// request that does not name loopback).
func (s *serveSettings) checkAdminExposure() error {
	if s.adminListen == "" || strings.HasPrefix(s.adminListen, unixPrefix) {
		return nil
	}
	host, _, _ := net.SplitHostPort(s.adminListen)
	if isLoopbackHost(host) {
		return nil
	}
	if s.adminToken == "" {
		return fmt.Errorf("--admin-listen %s is reachable beyond this machine, and the admin changes settings and shows profiles and command lines: set --admin-token (or SLUICE_ADMIN_TOKEN, --admin-token-file), or listen on 127.0.0.1 or a unix: socket", s.adminListen)
	}
	if ip := net.ParseIP(host); (host == "" || ip != nil && ip.IsUnspecified()) && s.adminAllowHost == "" {
		return fmt.Errorf("--admin-listen %s listens on every address, and the admin answers only Host names it knows (against DNS rebinding): set --admin-allow-host to the names and addresses clients use, or * for any", s.adminListen)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sizeString(n int64) string { s := size(n); return s.String() }
