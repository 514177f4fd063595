// Package settings is the contract between a sluice parent and its worker
// processes: the environment variables a parent sets when it starts a
// worker, the JSON of the /config admin endpoint that both ends serve, the
// ranges and defaults of the settings they share, and the byte-size syntax
// in which operators write them.
//
// It exists so that the two ends cannot drift apart: package child decodes
// what package parent and the sluice binary encode, with the same names,
// the same ranges and the same error messages, because both use this
// package and neither imports the other. It depends on package ipc, whose
// stream limit bounds the in-flight limit, and on package stream, whose
// policy names it re-exports.
//
// Sizes are bytes, optionally followed by a unit, case-insensitive: 4096,
// 64KiB, 8MiB, 1GiB (binary) or 10KB, 10MB (decimal); see [ParseSize].
package settings
