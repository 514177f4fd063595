// Package procstat reads the memory and CPU time of a process tree from
// /proc, for the bench: the questions it answers are "how much memory did
// the gateway and all its workers hold at the worst moment" and "how much
// CPU did each of them spend on a run". Linux only; on other systems every
// function returns an error saying so.
package procstat
