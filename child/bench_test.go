//go:build unix

package child_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/sockopt"
)

// BenchmarkSmallResponse is one small request after another through a
// worker: a parent-side ipc.Client over a socketpair opens a GET stream for
// /payload?size=4096, child.Serve runs the demo handler, and the parent
// reads the response to its end. net/http is the same exchange between a
// plain server and client over a Unix socket, for scale.
func BenchmarkSmallResponse(b *testing.B) {
	const path = "/payload?size=4096"
	b.Run("sluice", func(b *testing.B) { benchSluice(b, path, 4096, 0) })
	// Past net/http's buffer, within the worker's (child's smallBody).
	b.Run("sluice-16KiB", func(b *testing.B) { benchSluice(b, "/payload?size=16KiB", 16<<10, 0) })
	b.Run("sluice-parallel", func(b *testing.B) { benchSluice(b, path, 4096, 32) })
	b.Run("sluice-16KiB-parallel", func(b *testing.B) { benchSluice(b, "/payload?size=16KiB", 16<<10, 32) })
	b.Run("net-http", func(b *testing.B) {
		sock := filepath.Join(b.TempDir(), "s")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: demo.New(""), ErrorLog: nil}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.Serve(ln)
		}()
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
		client := &http.Client{Transport: tr}
		defer func() {
			tr.CloseIdleConnections()
			srv.Close()
			<-done
		}()
		buf := make([]byte, 64<<10)
		b.ReportAllocs()
		defer countSyscalls(b)()
		b.ResetTimer()
		for range b.N {
			resp, err := client.Get("http://bench.test" + path)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				m, err := resp.Body.Read(buf)
				n += m
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			resp.Body.Close()
			if n != 4096 {
				b.Fatalf("read %d bytes, want 4096", n)
			}
		}
	})
}

// countSyscalls reports the process's read and write system calls per
// operation (both ends of the exchange run in it), from /proc/self/io, when
// the returned function is called; without that file it reports nothing.
// Counts, unlike times, do not depend on what else the machine runs.
func countSyscalls(b *testing.B) func() {
	r0, w0, ok := procIO()
	return func() {
		r1, w1, ok1 := procIO()
		if !ok || !ok1 || b.N == 0 {
			return
		}
		b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/op")
		b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/op")
	}
}

func procIO() (reads, writes int64, ok bool) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0, false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes, true
}

// benchSluice is the sluice side of BenchmarkSmallResponse for path, whose
// body is size bytes: one request at a time, or with parallel > 0 that many
// per GOMAXPROCS at once on the one connection, as a loaded gateway sends.
func benchSluice(b *testing.B, path string, size, parallel int) {
	pc, remote, err := sockopt.Socketpair()
	if err != nil {
		b.Fatal(err)
	}
	wc, err := net.FileConn(remote)
	remote.Close()
	if err != nil {
		pc.Close()
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	quiet := slog.New(slog.DiscardHandler)
	go func() { served <- child.Serve(ctx, wc, demo.New(""), &child.Config{Logger: quiet}) }()
	conn, err := ipc.Client(pc, &ipc.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		cancel()
		conn.Close()
		<-served
	}()
	head := ipc.Fields{
		{Name: ":method", Value: "GET"},
		{Name: ":path", Value: path},
		{Name: ":authority", Value: "bench.test"},
		{Name: ":scheme", Value: "http"},
		{Name: ":remote", Value: "192.0.2.1:4321"},
		{Name: ":proto", Value: "HTTP/1.1"},
	}
	b.ReportAllocs()
	defer countSyscalls(b)()
	b.ResetTimer()
	if parallel == 0 {
		buf := make([]byte, 64<<10)
		for range b.N {
			if err := fetch(conn, head, buf, size); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(parallel)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 64<<10)
		for pb.Next() {
			if err := fetch(conn, head, buf, size); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// fetch opens a stream with head and reads the response, of size bytes, to
// its end.
func fetch(conn *ipc.Conn, head ipc.Fields, buf []byte, size int) error {
	st, err := conn.OpenStream(context.Background(), head, true)
	if err != nil {
		return err
	}
	if _, err := st.ReadHead(context.Background()); err != nil {
		return err
	}
	n := 0
	for {
		m, err := st.Read(buf)
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if n != size {
		return fmt.Errorf("read %d bytes, want %d", n, size)
	}
	return nil
}
