package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	Dispatch()
	goleak.VerifyTestMain(m)
}

func TestRelayCarriesEveryByte(t *testing.T) {
	const size = 64 << 20
	for _, sndbuf := range []int{0, 4 << 20} {
		res, err := Run(context.Background(), size, sndbuf)
		if err != nil {
			t.Fatalf("Run(64 MiB, sndbuf %d): %v", sndbuf, err)
		}
		if res.Bytes != size || res.Elapsed <= 0 || res.SndBufKernel <= 0 {
			t.Fatalf("Run(64 MiB, sndbuf %d) = %+v; want %d bytes", sndbuf, res, size)
		}
		if sndbuf > 0 && res.SndBufKernel < sndbuf {
			t.Logf("SO_SNDBUF %d was capped to %d (net.core.wmem_max, no CAP_NET_ADMIN)", sndbuf, res.SndBufKernel)
		}
	}
}

func TestRelayEmptyAndCancelled(t *testing.T) {
	if res, err := Run(context.Background(), 0, 0); err != nil || res.Bytes != 0 {
		t.Fatalf("Run(0) = %+v, %v", res, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, 1<<40, 0); err == nil {
		t.Fatal("Run with a cancelled context succeeded")
	}
}

// TestRelayStopsMidTransfer asks for 1 TiB and ends the context while the
// bytes flow: Run must kill and reap both helpers and say it was interrupted.
func TestRelayStopsMidTransfer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, 1<<40, 0)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Run(1 TiB) with a deadline = %+v, %v; want an interrupted error", res, err)
	}
}

// BenchmarkRelay moves 1 GiB per iteration through the minimal relay with a
// 4 MiB SO_SNDBUF.
func BenchmarkRelay(b *testing.B) {
	const size = 1 << 30
	b.SetBytes(size)
	var elapsed float64
	for b.Loop() {
		res, err := Run(context.Background(), size, 4<<20)
		if err != nil {
			b.Fatal(err)
		}
		elapsed += res.Elapsed.Seconds()
	}
	b.ReportMetric(float64(b.N)*size/elapsed/1e9, "GB/s")
}
