package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child/digest"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial number and its key to cert and key, and returns a pool trusting
// it.
func writeCert(t *testing.T, cert, key string, serial int64) *x509.CertPool {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("sluice test %d", serial)},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	c, _ := x509.ParseCertificate(der)
	pool.AddCert(c)
	return pool
}

// h2Client speaks HTTP/2 only: over TLS trusting roots, or h2c (prior
// knowledge) when roots is nil.
func h2Client(t *testing.T, roots *x509.CertPool) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}
}

// getDigest fetches url with c, checks it is 200 over HTTP/2 with a
// Content-Digest trailer matching the body, and returns the body's size.
func getDigest(t *testing.T, c *http.Client, url string) int64 {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set(digest.WantField, "sha-256=1")
	// Identity: Go's transport would ask for gzip and hand back the
	// decoded bytes, while the digest covers the encoded ones.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	v := digest.NewVerifier()
	n, err := io.Copy(v, resp.Body)
	if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("GET %s: %s %d after %d bytes: %v", url, resp.Proto, resp.StatusCode, n, err)
	}
	if err := v.Check(resp.Trailer.Get(digest.Field)); err != nil {
		t.Fatalf("GET %s: %v (trailer %q)", url, err, resp.Trailer.Get(digest.Field))
	}
	return n
}

// TestFrontHTTP2 runs the real binary with TLS and with --h2c and streams
// through it over HTTP/2: 1 GiB over h2c and 256 MiB over TLS (64 MiB
// with -short: under the race detector 1 GiB takes a minute or two) and a
// JSON export written as it is produced, each with its digest trailer; then a renewed
// certificate is served after SIGHUP, and a bad one is refused, keeping
// the renewed one.
func TestFrontHTTP2(t *testing.T) {
	size, want := "1GiB", int64(1<<30)
	tlsSize, tlsWant := "256MiB", int64(256<<20)
	if testing.Short() {
		size, want = "64MiB", 64<<20
		tlsSize, tlsWant = size, want
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := writeCert(t, cert, key, 1)
	g := startGateway(t, 1, "--tls-cert", cert, "--tls-key", key)
	base := "https://" + strings.TrimPrefix(g.addr, "http://")
	c := h2Client(t, roots)
	if n := getDigest(t, c, base+"/payload?size="+tlsSize); n != tlsWant {
		t.Fatalf("%d bytes over TLS HTTP/2; want %d", n, tlsWant)
	}
	getDigest(t, c, base+"/export?rows=20000")

	roots2 := writeCert(t, cert, key, 2)
	g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog(t, "TLS certificate reloaded")
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.addr, "http://"), &tls.Config{RootCAs: roots2})
	if err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	if sn := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); sn != 2 {
		t.Fatalf("after SIGHUP the certificate has serial %d; want 2", sn)
	}
	conn.Close()
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog(t, "TLS certificate reload failed")
	getDigest(t, h2Client(t, roots2), base+"/payload?size=1MiB")

	h2c := startGateway(t, 1, "--h2c")
	hc := h2Client(t, nil)
	if n := getDigest(t, hc, h2c.addr+"/payload?size="+size); n != want {
		t.Fatalf("%d bytes over h2c; want %d", n, want)
	}
	getDigest(t, hc, h2c.addr+"/export?rows=20000")
	// HTTP/1.1 goes on beside h2c.
	get(t, h2c.addr+"/payload?size=1MiB", nil)
}

// waitLog waits for a log line containing msg.
func (g *gateway) waitLog(t *testing.T, msg string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(g.logs.String(), msg) {
		if time.Now().After(deadline) {
			t.Fatalf("no log %q within 20s", msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unixClient speaks HTTP/1.1 over the Unix socket at path, whatever the
// URL's host.
func unixClient(t *testing.T, path string) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// waitReady polls /readyz with c until it is 200.
func waitReady(t *testing.T, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 within 30s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFrontUnixSockets: both listeners on Unix sockets with
// --listen-mode; a stale socket file is replaced, one something listens
// on stops the start, and the files go at exit.
func TestFrontUnixSockets(t *testing.T) {
	dir := t.TempDir()
	front, admin := filepath.Join(dir, "front.sock"), filepath.Join(dir, "admin.sock")
	// A stale file, as a SIGKILLed gateway leaves it.
	stale, err := net.Listen("unix", front)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	g := launchGateway(t, nil, "--workers", "1", "--listen", "unix:"+front, "--admin-listen", "unix:"+admin, "--listen-mode", "0600")
	ac := unixClient(t, admin)
	waitReady(t, ac, "http://admin")
	for _, p := range []string{front, admin} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
			t.Fatalf("%s: %v %v; want a socket of mode 0600", p, fi.Mode(), err)
		}
	}
	resp, err := unixClient(t, front).Get("http://sluice/payload?size=1MiB")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != 1<<20 || resp.StatusCode != 200 {
		t.Fatalf("over the Unix socket: %d, %d bytes, %v", resp.StatusCode, n, err)
	}

	// A second gateway on the same path must not steal it.
	out, err := exec.Command(sluiceBinary(t), "serve", "--listen", "unix:"+front, "--admin-listen", "").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "another process listens") {
		t.Fatalf("a second gateway on %s: %v\n%s", front, err, out)
	}

	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.exit:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit 30s after SIGTERM")
	}
	for _, p := range []string{front, admin} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s after exit: %v; want it removed", p, err)
		}
	}
}

// rawRequest sends raw on a new connection to addr and returns the
// status line of the answer.
func rawRequest(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go io.WriteString(c, raw) // the server may answer before it read all
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return strings.TrimSpace(line)
}

// TestFrontHeadLimits: a 100 KiB request line gets 414 and a 70 KiB
// header 431 from the real binary, as nginx answers them, not a 502.
func TestFrontHeadLimits(t *testing.T) {
	g := startGateway(t, 1)
	line := rawRequest(t, g.addr, "GET /payload?size=1&x="+strings.Repeat("a", 100<<10)+" HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(line, "HTTP/1.1 414") {
		t.Errorf("100 KiB request line: %q; want 414", line)
	}
	line = rawRequest(t, g.addr, "GET /payload?size=1 HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 70<<10)+"\r\n\r\n")
	if !strings.HasPrefix(line, "HTTP/1.1 431") {
		t.Errorf("70 KiB header: %q; want 431", line)
	}
	// Far beyond: net/http's own 431, still not a 502.
	line = rawRequest(t, g.addr, "GET /payload?size=1 HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 1<<20)+"\r\n\r\n")
	if !strings.HasPrefix(line, "HTTP/1.1 431") {
		t.Errorf("1 MiB header: %q; want 431", line)
	}
	get(t, g.addr+"/payload?size=1KiB&x="+strings.Repeat("a", 7<<10), nil)
}

// TestFrontIdleTimeout: a keep-alive connection left idle is closed by
// the gateway after --idle-timeout.
func TestFrontIdleTimeout(t *testing.T) {
	g := startGateway(t, 1, "--idle-timeout", "500ms")
	c, err := net.Dial("tcp", strings.TrimPrefix(g.addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /payload?size=10 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v; want the gateway to close it (EOF)", err)
	}
}

// TestFrontMaxConns: past --max-conns, with every connection busy (a
// response under way that its client does not read, so that none can be
// closed for room), a connection waits, unanswered, until one closes; the
// gauges show it.
func TestFrontMaxConns(t *testing.T) {
	g := startGateway(t, 1, "--max-conns", "2")
	addr := strings.TrimPrefix(g.addr, "http://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /payload?size=1GiB HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatalf("a held connection's response: %v", err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("the third connection was refused: %v; want it held in the backlog", err)
	}
	defer third.Close()
	io.WriteString(third, "GET /payload?size=10 HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("a request past --max-conns 2 was answered while two connections were open")
	}
	metrics := fetchBody(t, g.admin+"/metrics")
	if !strings.Contains(metrics, "sluice_http_open_connections 2") || !strings.Contains(metrics, "sluice_http_max_connections 2") {
		t.Fatalf("metrics at the limit:\n%s", grepLines(metrics, "connection"))
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("once one closed: %v %v", resp, err)
	}
	resp.Body.Close()
}

func fetchBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestFrontAdminToken: with SLUICE_ADMIN_TOKEN, /status and PUT /config
// need it while the probes and /metrics do not, a foreign Host is refused,
// and the workers do not inherit the token.
func TestFrontAdminToken(t *testing.T) {
	g := launchGateway(t, []string{"SLUICE_ADMIN_TOKEN=tok-123"}, "--workers", "1")
	waitReady(t, http.DefaultClient, g.admin)
	do := func(method, path, auth, host string) int {
		req, _ := http.NewRequest(method, g.admin+path, strings.NewReader(`{"max_inflight": 2}`))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, auth, host string
		want                     int
	}{
		{"GET", "/status", "", "", 401},
		{"PUT", "/config", "wrong", "", 401},
		{"GET", "/debug/pprof/cmdline", "", "", 401},
		{"GET", "/metrics", "", "", 200},
		{"GET", "/healthz", "", "", 200},
		{"GET", "/status", "tok-123", "", 200},
		{"PUT", "/config", "tok-123", "", 200},
		{"GET", "/healthz", "", "rebound.example:9090", 421},
	} {
		if got := do(c.method, c.path, c.auth, c.host); got != c.want {
			t.Errorf("%s %s (token %q, Host %q): %d; want %d", c.method, c.path, c.auth, c.host, got, c.want)
		}
	}
	req, _ := http.NewRequest("GET", g.admin+"/status", nil)
	req.Header.Set("Authorization", "Bearer tok-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Workers []struct{ PID int } }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Workers) != 1 {
		t.Fatalf("/status: %v %+v", err, st)
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.Workers[0].PID))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "tok-123") {
		t.Fatal("the worker inherited the admin token")
	}
}

// TestFrontRefusesUnsafeSettings: what would expose the admin or cannot
// serve stops the start with exit 2 and the reason.
func TestFrontRefusesUnsafeSettings(t *testing.T) {
	bin := sluiceBinary(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, key, 1)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--admin-listen", "0.0.0.0:0"}, "set --admin-token"},
		{[]string{"--admin-listen", ":0"}, "set --admin-token"},
		{[]string{"--admin-listen", "192.0.2.1:9090"}, "set --admin-token"},
		{[]string{"--admin-listen", "0.0.0.0:0", "--admin-token", "x"}, "set --admin-allow-host"},
		{[]string{"--admin-token-file", empty}, "is empty"},
		{[]string{"--tls-cert", cert}, "give both or neither"},
		{[]string{"--tls-cert", cert, "--tls-key", cert}, "--tls-key"},
		{[]string{"--tls-cert", cert, "--tls-key", key, "--h2c"}, "drop --h2c"},
		{[]string{"--max-header-bytes", "100KiB"}, "HEAD frame carries at most 64KiB"},
		{[]string{"--listen", "unix:relative.sock"}, "absolute path"},
		{[]string{"--listen", "8080"}, "use host:port or unix:/path"},
		{[]string{"--listen-mode", "888"}, "octal"},
		{[]string{"--max-conns", "-2"}, "--max-conns -2"},
		{[]string{"--idle-timeout", "-1s"}, "--idle-timeout"},
	} {
		cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", ""}, c.args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("serve %v: %v\n%s\nwant exit 2 naming %q", c.args, err, out, c.want)
		}
	}
}
