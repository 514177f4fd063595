// Command relay measures the minimal relay baseline: a producer process
// writes -size bytes into a Unix socket, a relay process copies them to
// loopback TCP with a 1 MiB read/write loop, and this process reads and
// times them. It re-executes itself for the producer and the relay.
//
//	go run ./bench/cmd/relay -size 1GiB -sndbuf 4MiB [-json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/sluicegw/sluice/bench/relay"
	"github.com/sluicegw/sluice/child/demo"
)

func main() {
	relay.Dispatch() // the producer and relay processes stop here
	os.Exit(run())
}

func run() int {
	size := flag.String("size", "1GiB", "bytes to move (e.g. 64MiB, 1GiB)")
	sndbuf := flag.String("sndbuf", "4MiB", "SO_SNDBUF on the Unix socket ends (0: kernel default)")
	asJSON := flag.Bool("json", false, "print the result as a JSON object")
	flag.Parse()
	n, err := demo.ParseSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay: -size:", err)
		return 2
	}
	buf, err := demo.ParseSize(*sndbuf)
	if err != nil || buf > 1<<30 {
		fmt.Fprintf(os.Stderr, "relay: -sndbuf %q: want a size up to 1GiB, e.g. 4MiB\n", *sndbuf)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := relay.Run(ctx, n, int(buf))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *asJSON {
		out := struct {
			relay.Result
			Seconds float64 `json:"seconds"`
			GBps    float64 `json:"gb_per_s"`
		}{res, res.Elapsed.Seconds(), res.GBps()}
		json.NewEncoder(os.Stdout).Encode(out)
		return 0
	}
	fmt.Println(res)
	return 0
}
