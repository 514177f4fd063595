// Package ipc is sluice's wire protocol: a multiplexed, flow-controlled
// connection between a parent and one worker process over a stream socket
// (in practice one end of a Unix socketpair).
//
// One side opens streams (the parent, with OpenStream); the other accepts them
// (the worker, with AcceptStream). A stream carries a head (a list of fields),
// data in both directions, and ends with an end frame (a completion status and
// trailers) or a reset. Every byte of data is covered by credit that the
// receiver granted, so a receiver never buffers more than it advertised and
// its reader never blocks on a slow consumer.
//
// Each Conn runs exactly two goroutines: a reader that only files frames into
// stream buffers, and a writer that owns the socket and a stream.Scheduler.
// Control frames (pings and their replies, credit, resets, go-away, load
// reports) always leave before data, so liveness never waits behind payload.
//
// docs/PROTOCOL.md specifies the bytes on the wire.
package ipc
