// Command sluice is the gateway daemon: `sluice serve` runs the parent with
// its workers; `sluice worker` is the built-in demo worker that serve starts.
package main

import (
	"fmt"
	"os"
)

const usage = `sluice: a response-streaming gateway for large payloads

usage:
  sluice serve [flags]   run the gateway and its workers (flags: sluice serve --help)
  sluice worker          run the built-in demo worker (started by serve, not by hand)
  sluice version         module version, VCS revision and Go version (also --version)
  sluice --help          this text

Every serve flag --name has an environment twin SLUICE_NAME; the flag wins.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(os.Args[2:]))
	case "worker":
		os.Exit(worker())
	case "version", "-version", "--version":
		fmt.Print(version())
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "sluice: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
