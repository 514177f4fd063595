package main

import (
	"fmt"
	"os"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
	"github.com/sluicegw/sluice/ipc/settings"
)

// worker runs the built-in demo worker over the socket inherited from
// `sluice serve`.
func worker() int {
	cfg, err := child.MainConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice worker:", err)
		return 2
	}
	handler := digest.Handler(demo.New(os.Getenv(settings.EnvRoot)))
	if err := child.Run(handler, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err) // Run's errors name the worker already
		return 1
	}
	return 0
}
