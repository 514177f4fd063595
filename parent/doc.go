// Package parent is the front of sluice: a Gateway (an http.Handler that a
// user can mount in their own server) that routes each request to the worker
// with the most room, by the admission limit each worker reports or a hard
// cap, or answers 503 with Retry-After when none has room in time, and a supervisor that starts the worker processes, links each
// by a Unix socketpair, and replaces the ones that die.
//
// A response streams from the worker's stream to the client with credit
// granted back as the client drains it, so backpressure runs from the
// client's TCP window to the handler's Write. A response that did not end
// cleanly is aborted toward the client, never completed.
package parent
