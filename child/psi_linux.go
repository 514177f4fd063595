package child

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// psiFile is a Linux pressure stall information file for the CPU: the
// worker's cgroup's cpu.pressure (cgroup v2), which counts only the tasks
// that share the worker's CPU allowance, or else the machine's
// /proc/pressure/cpu.
type psiFile struct {
	path string
	buf  []byte
}

// findPSI locates the CPU pressure file that applies to this process under
// root ("/" on a real system; a fixture directory in tests), and says why
// it chose it, or why there is none.
func findPSI(root string) (*psiFile, string) {
	if rel, err := cgroup2Path(filepath.Join(root, "proc/self/cgroup")); err == nil {
		p := &psiFile{path: filepath.Join(root, "sys/fs/cgroup", rel, "cpu.pressure")}
		if _, err := p.someTotal(); err == nil {
			return p, "the worker's cgroup (v2)"
		}
	}
	p := &psiFile{path: filepath.Join(root, "proc/pressure/cpu")}
	if _, err := p.someTotal(); err != nil {
		return nil, fmt.Sprintf("no CPU pressure information (%v): admission uses the scheduler latency alone", err)
	}
	return p, "the whole machine (no cgroup v2 cpu.pressure)"
}

// cgroup2Path returns the cgroup v2 path of the process from its
// /proc/self/cgroup (the line "0::PATH").
func cgroup2Path(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest, nil
		}
	}
	return "", errors.New("no cgroup v2 entry")
}

// someTotal returns the "some" line's total: the time during which at
// least one runnable task waited for a CPU, since boot (or the cgroup's
// creation).
func (p *psiFile) someTotal() (time.Duration, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if p.buf == nil {
		p.buf = make([]byte, 256)
	}
	n, err := f.Read(p.buf)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.path, err)
	}
	return parsePSISome(p.buf[:n], p.path)
}

// parsePSISome reads the total of the "some" line of a PSI file, in
// microseconds.
func parsePSISome(b []byte, name string) (time.Duration, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "some" {
			continue
		}
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				us, err := strconv.ParseUint(v, 10, 63)
				if err != nil {
					return 0, fmt.Errorf("%s: bad total %q: %w", name, v, err)
				}
				return time.Duration(us) * time.Microsecond, nil
			}
		}
	}
	return 0, fmt.Errorf("%s: no \"some ... total=\" line", name)
}
