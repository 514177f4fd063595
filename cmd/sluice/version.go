package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// version describes this binary from the build information the Go
// toolchain embeds: module version, VCS revision (and whether the tree
// was modified), and Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "sluice (no build information)\n"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sluice %s\n", bi.Main.Version)
	fmt.Fprintf(&b, "module:   %s\n", bi.Main.Path)
	rev := settings["vcs.revision"]
	if rev == "" {
		rev = "unknown (built without VCS information)"
	} else if settings["vcs.modified"] == "true" {
		rev += " (modified)"
	}
	fmt.Fprintf(&b, "revision: %s\n", rev)
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "time:     %s\n", t)
	}
	fmt.Fprintf(&b, "go:       %s\n", bi.GoVersion)
	return b.String()
}
