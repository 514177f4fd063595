package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// certReloader serves the certificate of --tls-cert and --tls-key and
// loads it anew on reload (SIGHUP), so that a renewed certificate takes
// effect without a restart; a failed reload keeps the one in use.
type certReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// newCertReloader loads the pair once: a start with a bad pair is a wrong
// setting.
func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

// reload loads the pair again and logs the outcome.
func (c *certReloader) reload(log *slog.Logger) {
	if err := c.load(); err != nil {
		log.Error("TLS certificate reload failed; keeping the previous one", "err", err)
		return
	}
	leaf := c.cert.Load().Leaf
	log.Info("TLS certificate reloaded", "cert", c.certFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// tlsConfig is the front's TLS: HTTP/2 and HTTP/1.1 by ALPN, TLS 1.2 at
// least (HTTP/2 requires it, RFC 9113 section 9.2), Go's cipher suites.
func (c *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: c.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     tls.VersionTLS12,
	}
}
