package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// parentGCPercent is the parent's GOGC unless the environment sets one.
//
// The parent's heap is response bytes in flight (buffers without pointers,
// which a collection does not scan) and the state of each client
// connection. With Go's default of 100 its resident memory reaches twice
// the live heap between collections, and what a crowd of slow clients costs
// the parent per connection is mostly that slack; at 50 a collection comes
// at one and a half times, for marking that the buffers do not add to. The
// workers keep the default: their heaps are the handlers', and an embedder
// who sets GOGC for the gateway sets it for them too.
const parentGCPercent = 50

// tuneGC sets the parent's GOGC to parentGCPercent unless the environment
// sets one, and logs which, as automaxprocs logs GOMAXPROCS.
func tuneGC(log *slog.Logger) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		log.Info("garbage collection: GOGC from the environment, for the parent and the workers", "gogc", v)
		return
	}
	debug.SetGCPercent(parentGCPercent)
	log.Info("garbage collection: the parent's GOGC; the workers keep Go's default", "gogc", parentGCPercent)
}
