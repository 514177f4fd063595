//go:build !linux

package cgroup

// Read returns ErrNotSupported on systems other than Linux, which have no
// cgroups, with a Limits whose CPUSource and MemorySource are "not linux"
// and no other values (Workers then gives 1).
func Read() (Limits, error) {
	return Limits{
		CPUSource:    "not linux",
		MemorySource: "not linux",
		Steps:        []string{"not linux: no cgroups to read"},
	}, ErrNotSupported
}
