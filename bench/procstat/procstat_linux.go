//go:build linux

package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Descendants returns the pids of every process below pid (children,
// grandchildren, ...), found by walking the ppid field of /proc/*/stat.
// Processes that exit during the walk are skipped.
func Descendants(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("procstat: listing /proc to find the descendants of %d: %w", pid, err)
	}
	children := make(map[int][]int)
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue // not a process directory
		}
		ppid, err := parentOf(p)
		if err != nil {
			continue // gone since ReadDir, or a kernel thread we cannot read
		}
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out, nil
}

// parentOf reads the ppid from /proc/PID/stat. The command name (field 2)
// is in parentheses and may itself contain spaces and parentheses, so the
// fields are counted from the last ')'.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat: /proc/%d/stat has no ')': %q", pid, b)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 2 {
		return 0, fmt.Errorf("procstat: /proc/%d/stat is too short: %q", pid, b)
	}
	return strconv.Atoi(fields[1])
}

// RSS returns the resident set size of pid in bytes (VmRSS).
func RSS(pid int) (int64, error) { return statusBytes(pid, "VmRSS:") }

// PSS returns the proportional set size of pid in bytes: its resident
// pages, each shared one divided by the number of processes that map it
// (the Pss line of /proc/PID/smaps_rollup). Summed over processes, it
// counts a page once, where summed RSS counts the text of one executable
// once per process that runs it.
func PSS(pid int) (int64, error) { return procBytes(pid, "smaps_rollup", "Pss:") }

// PeakRSS returns the highest resident set size pid has had, in bytes
// (VmHWM, the "high water mark").
func PeakRSS(pid int) (int64, error) { return statusBytes(pid, "VmHWM:") }

// TreePeakRSS returns the sum of PeakRSS over pid and its descendants. The
// processes may have peaked at different times, so this is an upper bound
// on the peak of the sum; use a Sampler for the peak of the sum itself.
func TreePeakRSS(pid int) (int64, error) {
	return treeSum(pid, PeakRSS)
}

// treeRSS is the current RSS of pid and its descendants.
func treeRSS(pid int) (int64, error) {
	return treeSum(pid, RSS)
}

// TreeMemory returns the sums of RSS and of PSS over pid and its
// descendants now, from one walk of the tree: the PSS is the memory the
// tree holds with the pages its processes share counted once.
func TreeMemory(pid int) (rss, pss int64, err error) {
	rss, err = treeSum(pid, func(p int) (int64, error) {
		r, err := RSS(p)
		if err != nil {
			return 0, err
		}
		s, err := PSS(p)
		if err != nil {
			return 0, err
		}
		pss += s
		return r, nil
	})
	if err != nil {
		return 0, 0, err
	}
	return rss, pss, nil
}

func treeSum(pid int, read func(int) (int64, error)) (int64, error) {
	total, err := read(pid)
	if err != nil {
		return 0, err
	}
	kids, err := Descendants(pid)
	if err != nil {
		return 0, err
	}
	for _, k := range kids {
		n, err := read(k)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNoField) {
			continue // exited since the walk, or a zombie without memory
		}
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

var errNoField = errors.New("field not present")

// statusBytes reads a "Name:   123 kB" line of /proc/PID/status.
func statusBytes(pid int, name string) (int64, error) { return procBytes(pid, "status", name) }

// procBytes reads a "Name:   123 kB" line of /proc/PID/FILE.
func procBytes(pid int, file, name string) (int64, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/" + file
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("procstat: reading memory of process %d: %w (has it exited?)", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		kb, err := strconv.ParseInt(num, 10, 64)
		if err != nil || unit != "kB" {
			return 0, fmt.Errorf("procstat: %s has an unexpected %s line %q", path, name, sc.Text())
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("procstat: reading %s: %w", path, err)
	}
	return 0, fmt.Errorf("procstat: %s has no %s line (a zombie or kernel thread?): %w", path, name, errNoField)
}
