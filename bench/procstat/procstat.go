// Package procstat reads the memory of a process tree from /proc, for the
// bench: the question it answers is "how much memory did the gateway and
// all its workers hold at the worst moment". Linux only; on other systems
// every function returns an error saying so.
package procstat
