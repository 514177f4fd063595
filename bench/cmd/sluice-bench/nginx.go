package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nginxConf is the peer the small scenario compares sluice with: nginx as a
// reverse proxy in front of the Go upstream, as the issue describes it.
// Proxy buffering stays at nginx's defaults on purpose: that is how nginx
// is deployed, and what sluice has to beat. So does the access log, a line
// per request written as it ends (the combined format, unbuffered), as
// sluice's own is on by default and written the same way. %[1]s is the directory every
// file of nginx goes to, %[2]d the port, %[3]s the upstream's server lines (one per Unix socket), %[4]s
// a "user" line (only when running as root, see writeNginxConf).
const nginxConf = `# written by sluice-bench small; removed when it exits
%[4]sworker_processes 2;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream go {
%[3]s        keepalive 64;
    }
    server {
        listen 127.0.0.1:%[2]d;
        location / {
            proxy_pass http://go;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

// findNginx returns the nginx binary to run, or why there is none: flag
// names one; otherwise PATH, then /usr/sbin (not on every user's PATH),
// where Debian's nginx-light puts it.
func findNginx(flag string) (bin, skip string) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Sprintf("-nginx %s: %v", flag, err)
		}
		return flag, ""
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, ""
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", ""
	}
	return "", "nginx is not installed (not on PATH nor /usr/sbin/nginx; apt-get install nginx-light, or give -nginx PATH)"
}

// nginx is a running nginx master (and its workers) in its own process group.
type nginx struct {
	cmd    *exec.Cmd
	dir    string
	addr   string // host:port
	exited chan struct{}
}

// startNginx writes the configuration into dir and starts nginx on a free
// loopback port, then waits until a request through it reaches the
// upstream. On error nothing is left running.
func startNginx(ctx context.Context, bin, dir string, upstreamSocks ...string) (*nginx, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, port, serverLines(upstreamSocks), userLine())), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// -e: errors before the configuration is read go to the temp dir too,
	// not to the compiled-in /var/log/nginx.
	cmd := exec.Command(bin, "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	n := &nginx{cmd: cmd, dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{})}
	go func() { // owned by n: stop waits for it
		cmd.Wait()
		close(n.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := n.awaitReady(ctx); err != nil {
		n.stop()
		return nil, fmt.Errorf("nginx (%s): %w\n%s\n%s", strings.Join(cmd.Args, " "), err,
			tail(filepath.Join(dir, "stderr.log"), 5), tail(filepath.Join(dir, "error.log"), 10))
	}
	return n, nil
}

// awaitReady polls a one-byte payload through nginx until it answers 200.
func (n *nginx) awaitReady(ctx context.Context) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v (last: %v)", startTimeout, last)
		case <-n.exited:
			return errors.New("exited before it was ready")
		case <-tick.C:
		}
		resp, err := c.Get("http://" + n.addr + "/payload?size=1")
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("GET /payload?size=1: %s", resp.Status)
	}
}

// stop asks nginx for a fast shutdown (SIGTERM), then SIGKILLs its process
// group after stopTimeout; its workers are in that group. Safe to call twice.
func (n *nginx) stop() {
	pid := n.cmd.Process.Pid
	select {
	case <-n.exited:
	default:
		signalGroup(pid, syscall.SIGTERM, false)
		select {
		case <-n.exited:
		case <-time.After(stopTimeout):
			signalGroup(pid, syscall.SIGKILL, true)
			<-n.exited
		}
	}
	// Workers left behind by a killed master are in the group too.
	signalGroup(pid, syscall.SIGKILL, true)
}

// userLine keeps nginx's workers as the current user. As root, nginx would
// switch them to "nobody", who may not enter the bench's private temp
// directory; as anyone else the directive is ignored with a warning, so it
// is left out.
func userLine() string {
	if os.Geteuid() != 0 {
		return ""
	}
	name := "root"
	group := "root"
	if u, err := user.Current(); err == nil {
		name = u.Username
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			group = g.Name
		}
	}
	return fmt.Sprintf("user %s %s;\n", name, group)
}

// freePort asks the kernel for a free loopback port. nginx binds it a moment
// later; another process taking it in between makes nginx fail to start,
// which is reported.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serverLines are the upstream block's server lines, one per socket: nginx
// balances round-robin across them.
func serverLines(socks []string) string {
	var b strings.Builder
	for _, s := range socks {
		fmt.Fprintf(&b, "        server unix:%s;\n", s)
	}
	return b.String()
}
