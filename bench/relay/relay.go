// Package relay measures the minimal relay a gateway can be: a producer
// process writes into a Unix socket, a relay process copies it to a loopback
// TCP connection with a plain 1 MiB read/write loop, and the calling process
// reads the TCP side and times the transfer. It is the ceiling against which
// sluice's own parent/child relay is judged.
//
// Run re-executes the current binary (os.Executable) to get the producer and
// the relay. Every binary that calls Run must therefore call Dispatch first
// thing in main, or in TestMain for a test binary:
//
//	func main() {
//		relay.Dispatch() // returns at once unless started by relay.Run
//		...
//	}
//
//	func TestMain(m *testing.M) {
//		relay.Dispatch()
//		os.Exit(m.Run())
//	}
package relay

import (
	"fmt"
	"time"
)

// Result is the outcome of one relay measurement.
type Result struct {
	// Bytes is what the consumer received (the size asked for, or Run
	// fails).
	Bytes int64 `json:"bytes"`
	// Elapsed runs from the first byte received to the end of the stream;
	// process start-up is not included.
	Elapsed time.Duration `json:"elapsed_ns"`
	// SndBuf is the SO_SNDBUF asked for on the Unix socket (0: default).
	SndBuf int `json:"sndbuf"`
	// SndBufKernel is SO_SNDBUF as read back from the kernel: Linux
	// doubles the value set, and caps it at net.core.wmem_max unless
	// SO_SNDBUFFORCE is permitted.
	SndBufKernel int `json:"sndbuf_kernel"`
}

// GBps is the throughput in GB/s (10^9 bytes per second).
func (r Result) GBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.Elapsed.Seconds() / 1e9
}

// String formats the result as the relay command prints it.
func (r Result) String() string {
	return fmt.Sprintf("relay: %d bytes in %.2fs = %.2f GB/s (SO_SNDBUF %d, kernel %d)",
		r.Bytes, r.Elapsed.Seconds(), r.GBps(), r.SndBuf, r.SndBufKernel)
}

// chunk is the read/write size of the producer, relay and consumer loops.
const chunk = 1 << 20

// Environment variables through which Run tells the re-executed binary what
// to be.
const (
	roleEnv = "SLUICE_RELAY_ROLE" // "producer" or "relay"
	sizeEnv = "SLUICE_RELAY_SIZE" // bytes the producer writes
)
