// Package child makes a Go program a sluice worker: it serves any
// http.Handler over the stream-multiplexed Unix socket that the sluice
// parent passes it, the way net/http/fcgi serves one over FastCGI.
//
// Main (or Run, which returns instead of exiting) is all a worker binary
// needs; Serve does the same over any net.Conn that speaks the protocol.
//
// Each request is one ipc stream. An admission gate decides when its handler
// starts: no more than Config.MaxInFlight at once, and none while the
// response bytes queued for the socket are above Config.HighWatermark, so
// that the worker flushes what it has produced before it takes on more
// work. The worker reports its load (running, waiting, queued bytes) to the
// parent, which routes by it.
package child
