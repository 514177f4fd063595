package ipc

import (
	"io"
	"net"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/stream"
	"golang.org/x/sys/unix"
)

// benchSize is what BenchmarkStreamVsRaw moves per round: the 1 GiB.
const benchSize = 1 << 30

func setSndbuf(b testing.TB, c net.Conn, n int) {
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, n)
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
	})
}

// rawCopy moves size bytes over a bare socketpair with 1 MiB writes and reads.
func rawCopy(b *testing.B, size int64) time.Duration {
	a, c := socketpair(b)
	defer a.Close()
	defer c.Close()
	setSndbuf(b, a, 4<<20)
	setSndbuf(b, c, 4<<20)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		buf := make([]byte, 1<<20)
		for left := size; left > 0; left -= int64(len(buf)) {
			if _, err := a.Write(buf); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(onlyWriter{io.Discard}, io.LimitReader(onlyReader{c}, size), buf); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// onlyReader and onlyWriter hide ReadFrom/WriteTo so that io.CopyBuffer
// really uses the 1 MiB buffer (io.Discard's ReadFrom would read 8 KiB at a
// time and understate the raw figure).
type onlyReader struct{ io.Reader }

type onlyWriter struct{ io.Writer }

// streamCopy moves size bytes through one stream of an ipc.Conn, the
// handler writing 1 MiB at a time and the opener draining with WriteTo.
func streamCopy(b *testing.B, size int64, cfg *Config) time.Duration {
	a, c := socketpair(b)
	setSndbuf(b, a, 4<<20)
	setSndbuf(b, c, 4<<20)
	srv := make(chan *Conn, 1)
	go func() {
		sc, err := Server(c, cfg)
		if err != nil {
			b.Error(err)
		}
		srv <- sc
	}()
	oc, err := Client(a, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ac := <-srv
	defer oc.Close()
	defer ac.Close()
	ctx := ctxTimeout(b, time.Minute)
	start := time.Now()
	go func() {
		st, err := ac.AcceptStream(ctx)
		if err != nil {
			return
		}
		st.WriteHead(Fields{{":status", "200"}}, false)
		buf := make([]byte, 1<<20)
		for left := size; left > 0; left -= int64(len(buf)) {
			if _, err := st.Write(buf); err != nil {
				return
			}
		}
		st.CloseWrite()
	}()
	st, err := oc.OpenStream(ctx, nil, true)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.ReadHead(ctx); err != nil {
		b.Fatal(err)
	}
	n, err := st.WriteTo(io.Discard)
	if err != nil || n != size {
		b.Fatalf("moved %d bytes, err %v", n, err)
	}
	return time.Since(start)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func gbps(size int64, d time.Duration) float64 { return float64(size) / d.Seconds() / 1e9 }

// BenchmarkStreamVsRaw moves 1 GiB through one ipc stream and 1 GiB through
// a raw socketpair, alternating, three rounds each, and reports the medians
// and their ratio. Run: go test -run '^$' -bench StreamVsRaw -benchtime 1x ./ipc
//
// The budget case is the parent's default: a window that starts at 64 KiB
// and grows by grants to 4 MiB, its share of a 16 MiB receive budget.
func BenchmarkStreamVsRaw(b *testing.B) {
	cases := []struct {
		name string
		cfg  func() *Config
	}{
		{"window=1MiB", func() *Config { return &Config{StreamWindow: 1 << 20, SendQueue: 1 << 20} }},
		{"window=4MiB", func() *Config { return &Config{StreamWindow: 4 << 20, SendQueue: 4 << 20} }},
		{"budget=16MiB", func() *Config {
			return &Config{StreamWindow: 4 << 20, SendQueue: 4 << 20, RecvBudget: stream.NewRecvBudget(16 << 20)}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			cfg := c.cfg()
			for i := 0; i < b.N; i++ {
				var raw, ipc []time.Duration
				for r := 0; r < 3; r++ {
					raw = append(raw, rawCopy(b, benchSize))
					ipc = append(ipc, streamCopy(b, benchSize, cfg))
				}
				rg, ig := gbps(benchSize, median(raw)), gbps(benchSize, median(ipc))
				b.ReportMetric(rg, "raw-GB/s")
				b.ReportMetric(ig, "ipc-GB/s")
				b.ReportMetric(ig/rg, "ratio")
			}
		})
	}
}
