// Package stream holds sluice's scheduling primitives: the bounded queue a
// handler writes a response into, the credit windows of a flow-controlled
// stream, the byte budget shared by every queue of a process, and the writer
// scheduler that decides which stream's bytes go on the wire next.
//
// The package is pure data structures: it knows nothing of sockets, frames or
// HTTP, so that each primitive can be tested exactly (which stream is served
// next, how much credit is granted back) without a connection.
//
// Ownership is part of each type's contract, because the types are built for
// the goroutines of one connection:
//
//   - [Queue] has one producer (a handler's Write) and one consumer (the
//     connection's writer goroutine).
//   - [SendWindow] is taken from by the writer and added to by the reader;
//     [RecvWindow] is received into by the reader and consumed by the
//     application.
//   - [Budget] is shared by any number of goroutines.
//   - [Scheduler] and every [Policy] are owned by the writer goroutine alone
//     and take no locks.
//
// Memory is bounded by construction: a queue never holds more than its limit
// of unsent bytes, a [RecvWindow] never lets the peer send more than its size,
// and a [Budget] caps the bytes held by all queues together until they are on
// the wire, at its limit plus one [ChunkSize] per queue holding bytes (the
// chunk every queue may always take, so that none is starved).
package stream
