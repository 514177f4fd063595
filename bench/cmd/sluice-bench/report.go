package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"gonum.org/v1/plot"
)

// A report is the dated record of one bench run that -report asks for: a
// directory bench/results/YYYY-MM-DD-HHMMSS holding report.md (the
// machine, the versions, the exact command, every table the run printed,
// in order, and the charts between them) and the charts as SVG files.
type report struct {
	dir     string
	started time.Time
	command string
	// facts are the machine and versions, read at the start, so that the
	// revision is the one the run built, whatever is committed meanwhile.
	facts []string
	// parts alternate text the run printed and charts, in order.
	parts []reportPart
	cur   bytes.Buffer
}

// reportPart is a block of printed text, or a chart (file set).
type reportPart struct {
	text          string
	file, caption string
}

// newReport makes a fresh directory under root, named by the time.
func newReport(root string, args []string, now time.Time) (*report, error) {
	dir := filepath.Join(root, now.Format("2006-01-02-150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("-report: %w", err)
	}
	return &report{dir: dir, started: now, command: "sluice-bench " + strings.Join(args, " "), facts: machineFacts()}, nil
}

// Write takes what the run prints to stdout.
func (r *report) Write(p []byte) (int, error) { return r.cur.Write(p) }

// flushText ends the current block of printed text.
func (r *report) flushText() {
	if r.cur.Len() > 0 {
		r.parts = append(r.parts, reportPart{text: r.cur.String()})
		r.cur.Reset()
	}
}

// chart saves p as name.svg and places it after what was printed so far.
func (r *report) chart(name, caption string, p *plot.Plot) error {
	file := name + ".svg"
	if err := p.Save(chartWidth, chartHeight, filepath.Join(r.dir, file)); err != nil {
		return fmt.Errorf("saving chart %s: %w", file, err)
	}
	r.flushText()
	r.parts = append(r.parts, reportPart{file: file, caption: caption})
	return nil
}

// close writes report.md.
func (r *report) close(finished time.Time) error {
	r.flushText()
	var b strings.Builder
	fmt.Fprintf(&b, "# sluice-bench report, %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Command: `%s` (%s).\n\n", r.command, finished.Sub(r.started).Round(time.Second))
	b.WriteString("## Machine and versions\n\n")
	for _, l := range r.facts {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	b.WriteString("\n## Results\n\n")
	for _, p := range r.parts {
		if p.file != "" {
			fmt.Fprintf(&b, "![%s](%s)\n\n*%s*\n\n", p.caption, p.file, p.caption)
			continue
		}
		fmt.Fprintf(&b, "```\n%s```\n\n", p.text)
	}
	return os.WriteFile(filepath.Join(r.dir, "report.md"), []byte(b.String()), 0o644)
}

// machineFacts are the lines that say what the figures were measured on.
func machineFacts() []string {
	facts := []string{
		fmt.Sprintf("CPU: %s, %d logical CPUs (GOMAXPROCS %d)", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		"Memory: " + firstLine("/proc/meminfo"),
		"Kernel: " + commandLine("uname", "-sr"),
		"Go: " + runtime.Version(),
		"sluice: " + revision(),
	}
	if bin, why := findNginx(""); why == "" {
		facts = append(facts, "nginx: "+commandLine(bin, "-v"))
	} else {
		facts = append(facts, "nginx: skipped, "+why)
	}
	if bin, why := findNode(); why == "" {
		facts = append(facts, "Node.js: "+commandLine(bin, "--version"))
	} else {
		facts = append(facts, "Node.js: skipped, "+why)
	}
	return facts
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for l := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// firstLine is a file's first line, trimmed.
func firstLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	l, _, _ := strings.Cut(string(data), "\n")
	return strings.Join(strings.Fields(l), " ")
}

// commandLine runs a command and returns its output's first line (nginx -v
// writes to stderr).
func commandLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown (" + err.Error() + ")"
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// revision is the VCS revision the bench was built from, or, when the
// build has none (go run stamps none), the checkout's, from git.
func revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return gitRevision()
	}
	rev, dirty := "", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " (with uncommitted changes)"
			}
		}
	}
	if rev == "" {
		return gitRevision()
	}
	return rev + dirty
}

// gitRevision is HEAD of the working directory's checkout, and whether it
// has uncommitted changes.
func gitRevision() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown revision (no VCS information in the build, and no git checkout here)"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += " (with uncommitted changes)"
	}
	return rev
}

// chart saves a chart into the report, if there is one; a chart that cannot
// be drawn is reported on the progress log and the run goes on.
func (e *env) chart(name, caption string, p *plot.Plot, err error) {
	if e.rep == nil {
		return
	}
	if err == nil {
		err = e.rep.chart(name, caption, p)
	}
	if err != nil {
		fmt.Fprintln(e.log, "warning: chart", name+":", err)
	}
}
