// Package child makes a Go program a sluice worker: it serves any
// http.Handler over the stream-multiplexed Unix socket that the sluice
// parent passes it, the way net/http/fcgi serves one over FastCGI.
//
// Main (or Run, which returns instead of exiting) is all a worker binary
// needs; Serve does the same over any net.Conn that speaks the protocol.
//
// Each request is one ipc stream. An admission gate decides when its handler
// starts. By default it admits by CPU: a handler starts while fewer than the
// CPU admission limit are computing, where handlers blocked on a slow client,
// and those the Go scheduler sees waiting (on a database, a remote API, a
// timer), do not count; a controller sets the limit every 100 ms from CPU
// pressure (Linux PSI) and the scheduler's latency. Config.MaxInFlight
// replaces that with a hard cap on handlers running. Either way, none starts
// while the response bytes queued for the socket are above
// Config.HighWatermark, so that the worker flushes what it has produced
// before it takes on more work. The worker reports its load (handlers
// running, blocked and draining, streams waiting, its limit and the signals
// that set it, bytes queued) to the parent in LOAD frames; the parent routes
// by them and shows them in /status.
//
// The parent reaches the worker itself over admin streams, which bypass the
// gate: Prometheus metrics, net/http/pprof profiles (handlers carry the
// pprof labels route and worker), and live tuning of the in-flight limit and
// the watermarks (docs/PROTOCOL.md, "Admin streams").
package child
