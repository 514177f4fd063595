//go:build unix

package relay_test

import (
	"context"
	"fmt"

	"github.com/sluicegw/sluice/bench/relay"
)

// Run times size bytes through a producer process, a Unix socketpair, a
// relay process and loopback TCP: the fastest a Unix-socket-to-TCP gateway
// can be on this machine. It re-executes the test binary, whose TestMain
// calls relay.Dispatch first.
func ExampleRun() {
	res, err := relay.Run(context.Background(), 4<<20, 256<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("bytes:", res.Bytes)
	fmt.Println("sndbuf asked:", res.SndBuf, "read back:", res.SndBufKernel > 0)
	fmt.Println("timed:", res.Elapsed > 0)
	// Output:
	// bytes: 4194304
	// sndbuf asked: 262144 read back: true
	// timed: true
}
