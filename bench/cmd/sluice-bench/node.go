package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	nodepeer "github.com/sluicegw/sluice/bench/peers/node"
)

// findNode returns the node binary, or why there is none.
func findNode() (bin, skip string) {
	p, err := exec.LookPath("node")
	if err != nil {
		return "", "node is not installed (not on PATH; install Node.js to compare with the design the incidents came from)"
	}
	return p, ""
}

// nodeScripts is the directory the Node.js peer's scripts are written to,
// once per bench run.
var nodeScripts struct {
	once sync.Once
	dir  string
	err  error
}

// nodeScript writes the embedded scripts into a temporary directory (once)
// and returns the path of name there. The directory lives as long as the
// bench; it is small and under the system's temporary directory.
func nodeScript(name string) (string, error) {
	nodeScripts.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bench-node-")
		if err != nil {
			nodeScripts.err = err
			return
		}
		nodeScripts.dir = dir
		nodeScripts.err = fs.WalkDir(nodepeer.Scripts, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := nodepeer.Scripts.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, path), b, 0o644)
		})
	})
	if nodeScripts.err != nil {
		return "", fmt.Errorf("writing the Node.js peer's scripts: %w", nodeScripts.err)
	}
	return filepath.Join(nodeScripts.dir, name), nil
}

// removeNodeScripts removes what nodeScript wrote.
func removeNodeScripts() {
	if nodeScripts.dir != "" {
		os.RemoveAll(nodeScripts.dir)
	}
}
