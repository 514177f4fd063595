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
// work. The worker reports its load (handlers running, streams waiting, its
// limit, bytes queued) to the parent in LOAD frames; the parent shows the
// last report in /status and routes by its own count of the streams it has
// open on each worker, which is exact and immediate.
//
// The parent reaches the worker itself over admin streams, which bypass the
// gate: Prometheus metrics, net/http/pprof profiles (handlers carry the
// pprof labels route and worker), and live tuning of the in-flight limit and
// the watermarks (docs/PROTOCOL.md, "Admin streams").
package child
