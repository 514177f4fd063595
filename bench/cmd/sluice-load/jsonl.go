package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sluicegw/sluice/bench/load"
)

// requestLine and summaryLine are the JSON lines: Kind tells them apart
// and Label ties lines of several runs in one file to their run.
type requestLine struct {
	Kind  string `json:"kind"`
	Label string `json:"label,omitempty"`
	load.Result
}

type summaryLine struct {
	Kind  string `json:"kind"`
	Label string `json:"label,omitempty"`
	load.Summary
}

// writeJSON writes the lines to path ("-" is stdout), appending so that the
// runs of one replay can share a file.
func writeJSON(stdout io.Writer, path, label string, rep *load.Report) error {
	var f *os.File
	if path != "-" {
		var err error
		f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("opening the -json file: %w", err)
		}
		defer f.Close()
		stdout = f
	}
	bw := bufio.NewWriter(stdout)
	enc := json.NewEncoder(bw)
	for _, r := range rep.Results {
		if err := enc.Encode(requestLine{"request", label, r}); err != nil {
			return fmt.Errorf("encoding request %d as JSON: %w", r.Index, err)
		}
	}
	if err := enc.Encode(summaryLine{"summary", label, rep.Summary}); err != nil {
		return fmt.Errorf("encoding the summary as JSON: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("closing %s: %w", path, err)
		}
	}
	return nil
}
