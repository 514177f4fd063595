package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	procSelfCgroup    = "/proc/self/cgroup"
	procSelfMountinfo = "/proc/self/mountinfo"

	fsTypeV1 = "cgroup"
	fsTypeV2 = "cgroup2"

	v1CPUQuota    = "cpu.cfs_quota_us"
	v1CPUPeriod   = "cpu.cfs_period_us"
	v1MemoryLimit = "memory.limit_in_bytes"
	v2CPUMax      = "cpu.max"
	v2MemoryMax   = "memory.max"

	// v2DefaultPeriod is the period the kernel assumes when cpu.max holds
	// only a quota.
	v2DefaultPeriod = 100000
)

// ReadFrom is Read for the file tree under root: it reads
// root/proc/self/cgroup, root/proc/self/mountinfo and the cgroup files under
// the mount points that mountinfo names (prefixed with root). ReadFrom("/")
// reads this process's real limits; tests pass a fixture directory. Paths in
// the returned sources and steps are as the system sees them, without root.
//
// ReadFrom does not look at the affinity mask (AffinityCPUs stays 0) and
// works on every system, since it only parses files.
//
// An unreadable /proc file, or a limit file that cannot be read or parsed,
// is an error naming the file and its content; an absent hierarchy or limit
// file is not (it means no limit there). On error the returned Limits carry
// no quota or limit, only the Steps up to the failure.
func ReadFrom(root string) (Limits, error) {
	r := reader{root: root}
	err := r.read()
	return r.l, err
}

// reader accumulates Limits while walking one file tree.
type reader struct {
	root string
	// procCgroup is the membership file to read, procSelfCgroup if empty.
	procCgroup string
	l          Limits
}

func (r *reader) step(format string, args ...any) {
	r.l.Steps = append(r.l.Steps, fmt.Sprintf(format, args...))
}

// file maps a system path to the path under r.root.
func (r *reader) file(p string) string {
	return filepath.Join(r.root, filepath.FromSlash(p))
}

// membership is one line of /proc/self/cgroup.
type membership struct {
	id          int
	controllers []string // empty for the v2 line "0::/path"
	path        string   // as the kernel wrote it, not cleaned
}

// mount is one cgroup line of /proc/self/mountinfo.
type mount struct {
	root      string   // the directory of the cgroup tree that is mounted
	point     string   // where it is mounted
	fsType    string   // "cgroup" or "cgroup2"
	superOpts []string // for v1, includes the controllers
}

func (r *reader) read() error {
	members, err := r.parseProcCgroup()
	if err != nil {
		return err
	}
	mounts, err := r.parseMountinfo()
	if err != nil {
		return err
	}

	var cpu cpuBest
	var mem memBest

	if dir, top, ok := r.locate(members, mounts, fsTypeV2, ""); ok {
		if err := r.walkV2(dir, top, &cpu, &mem); err != nil {
			return err
		}
	}
	if dir, top, ok := r.locate(members, mounts, fsTypeV1, "cpu"); ok {
		if err := r.walkV1CPU(dir, top, &cpu); err != nil {
			return err
		}
	}
	if dir, top, ok := r.locate(members, mounts, fsTypeV1, "memory"); ok {
		if err := r.walkV1Memory(dir, top, &mem); err != nil {
			return err
		}
	}

	r.l.CPUQuota, r.l.CPUSource = cpu.quota, cpu.source
	if cpu.quota == 0 {
		r.l.CPUSource = "none"
	}
	r.l.MemoryLimit, r.l.MemorySource = mem.limit, mem.source
	if mem.limit == 0 {
		r.l.MemorySource = "none"
	}
	r.step("result: cpu quota %.2f (%s); memory limit %d (%s)", r.l.CPUQuota, r.l.CPUSource, r.l.MemoryLimit, r.l.MemorySource)
	return nil
}

// parseProcCgroup reads /proc/self/cgroup: "hierarchy-ID:controllers:path"
// per line; the path may itself contain colons.
func (r *reader) parseProcCgroup() ([]membership, error) {
	procCgroup := r.procCgroup
	if procCgroup == "" {
		procCgroup = procSelfCgroup
	}
	data, err := os.ReadFile(r.file(procCgroup))
	if err != nil {
		return nil, fmt.Errorf("cgroup: reading %s: %w; is /proc mounted? Set the worker count explicitly if it cannot be", procCgroup, err)
	}
	var ms []membership
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, ":", 3)
		id, err := strconv.Atoi(f[0])
		if len(f) != 3 || err != nil {
			return nil, fmt.Errorf("cgroup: %s line %d is %q, want \"id:controllers:path\"", procCgroup, i+1, line)
		}
		var ctrls []string
		if f[1] != "" {
			ctrls = strings.Split(f[1], ",")
		}
		ms = append(ms, membership{id: id, controllers: ctrls, path: f[2]})
	}
	return ms, nil
}

// parseMountinfo reads the cgroup and cgroup2 mounts from
// /proc/self/mountinfo (see proc(5)): "id parent major:minor root point
// options [optional...] - fstype source superoptions". Lines it cannot parse
// are skipped with a step: they are not cgroup mounts the kernel would write.
func (r *reader) parseMountinfo() ([]mount, error) {
	f, err := os.Open(r.file(procSelfMountinfo))
	if err != nil {
		return nil, fmt.Errorf("cgroup: reading %s: %w; is /proc mounted? Set the worker count explicitly if it cannot be", procSelfMountinfo, err)
	}
	defer f.Close()
	var mounts []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Split(sc.Text(), " ")
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+4 {
			r.step("%s line %d: cannot parse %q; skipped", procSelfMountinfo, n, sc.Text())
			continue
		}
		fsType := fields[sep+1]
		if fsType != fsTypeV1 && fsType != fsTypeV2 {
			continue
		}
		mounts = append(mounts, mount{
			root:      unescapeMountinfo(fields[3]),
			point:     unescapeMountinfo(fields[4]),
			fsType:    fsType,
			superOpts: strings.Split(fields[sep+3], ","),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroup: reading %s: %w", procSelfMountinfo, err)
	}
	return mounts, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// locate finds the directory, as a system path, of this process's cgroup in
// the hierarchy of fsType (for v1, the one holding controller), and top, the
// mount point, where the walk up stops. ok is false when there is no such
// hierarchy, which means no limit from it.
func (r *reader) locate(members []membership, mounts []mount, fsType, controller string) (dir, top string, ok bool) {
	what := "cgroup v2 (unified)"
	if fsType == fsTypeV1 {
		what = "cgroup v1 " + controller
	}

	var m *membership
	for i := range members {
		if fsType == fsTypeV2 && members[i].id == 0 && len(members[i].controllers) == 0 ||
			fsType == fsTypeV1 && members[i].id != 0 && slices.Contains(members[i].controllers, controller) {
			m = &members[i]
			break
		}
	}
	if m == nil {
		r.step("%s: not in %s; no limit from it", what, procSelfCgroup)
		return "", "", false
	}

	var cands []mount
	for _, mt := range mounts {
		if mt.fsType == fsType && (fsType == fsTypeV2 || slices.Contains(mt.superOpts, controller)) {
			cands = append(cands, mt)
		}
	}
	if len(cands) == 0 {
		r.step("%s: process is in %q but the hierarchy is not mounted; no limit from it", what, m.path)
		return "", "", false
	}

	// Of the mounts that show the process's cgroup, take the one whose root
	// is highest, so the walk sees the most ancestors.
	best, bestRel := -1, ""
	for i, mt := range cands {
		rel, inside := under(m.path, mt.root)
		if inside && (best < 0 || len(mt.root) < len(cands[best].root)) {
			best, bestRel = i, rel
		}
	}
	if best < 0 {
		// The cgroup is outside every mount's root: e.g. a cgroup namespace
		// whose process was moved out of the namespace root ("/../x"), or a
		// subtree bind mount. The mount point is as high as we can see.
		r.step("%s: cgroup %q is outside the root %q of the mount at %s; reading from the mount point up", what, m.path, cands[0].root, cands[0].point)
		return cands[0].point, cands[0].point, true
	}
	mt := cands[best]
	dir = path.Join(mt.point, bestRel)
	if st, err := os.Stat(r.file(dir)); err != nil || !st.IsDir() {
		r.step("%s: cgroup %q maps to %s, which does not exist here; reading from the mount point %s up", what, m.path, dir, mt.point)
		return mt.point, mt.point, true
	}
	r.step("%s: cgroup %q, mount root %q at %s → %s; walking up to %s", what, m.path, mt.root, mt.point, dir, mt.point)
	return dir, mt.point, true
}

// under reports whether the cgroup path p lies at or below root, and p's
// path relative to root. Paths with ".." (a cgroup outside the namespace
// root) are never under anything.
func under(p, root string) (rel string, ok bool) {
	if !strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), "..") {
		return "", false
	}
	root = strings.TrimSuffix(root, "/")
	switch {
	case root == "":
		return strings.TrimPrefix(p, "/"), true
	case p == root:
		return "", true
	case strings.HasPrefix(p, root+"/"):
		return p[len(root)+1:], true
	}
	return "", false
}

// levels returns dir and each ancestor up to and including top, leaf first.
// dir must be top or below it.
func levels(dir, top string) []string {
	dir, top = path.Clean(dir), path.Clean(top)
	var out []string
	for {
		out = append(out, dir)
		if dir == top || dir == "/" || dir == "." {
			return out
		}
		dir = path.Dir(dir)
	}
}

// cpuBest and memBest keep the tightest value seen so far.
type cpuBest struct {
	quota  float64
	source string
}

func (b *cpuBest) offer(quota float64, source string) bool {
	if b.quota == 0 || quota < b.quota {
		b.quota, b.source = quota, source
		return true
	}
	return false
}

type memBest struct {
	limit  int64
	source string
}

func (b *memBest) offer(limit int64, source string) bool {
	if b.limit == 0 || limit < b.limit {
		b.limit, b.source = limit, source
		return true
	}
	return false
}

// readSmall reads a one-line cgroup file; present is false if it does not
// exist (the controller is not enabled at that level, or it is the root).
func (r *reader) readSmall(p string) (content string, present bool, err error) {
	data, err := os.ReadFile(r.file(p))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("cgroup: reading %s: %w", p, err)
	}
	return strings.TrimSpace(string(data)), true, nil
}

// walk calls fn for dir and each ancestor up to and including top, the
// mount point, leaf first.
func (r *reader) walk(dir, top string, fn func(level string) error) error {
	for _, lv := range levels(dir, top) {
		if err := fn(lv); err != nil {
			return err
		}
	}
	return nil
}

// walkV2 reads cpu.max and memory.max at dir and each ancestor.
func (r *reader) walkV2(dir, top string, cpu *cpuBest, mem *memBest) error {
	return r.walk(dir, top, func(lv string) error {
		p := path.Join(lv, v2CPUMax)
		s, ok, err := r.readSmall(p)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			r.step("%s: absent (the root cgroup, or the cpu controller is not enabled here); no limit here", p)
		default:
			q, err := parseCPUMax(p, s)
			if err != nil {
				return err
			}
			r.offerCPU(q, fmt.Sprintf("cgroup v2 %s: %s", p, s), p, s, cpu)
		}

		p = path.Join(lv, v2MemoryMax)
		s, ok, err = r.readSmall(p)
		if err != nil {
			return err
		}
		if !ok {
			r.step("%s: absent (the root cgroup, or the memory controller is not enabled here); no limit here", p)
			return nil
		}
		lim, err := parseMemory(p, s, "max")
		if err != nil {
			return err
		}
		r.offerMem(lim, fmt.Sprintf("cgroup v2 %s: %s", p, s), p, s, mem)
		return nil
	})
}

// walkV1CPU reads cpu.cfs_quota_us and cpu.cfs_period_us at dir and each
// ancestor.
func (r *reader) walkV1CPU(dir, top string, cpu *cpuBest) error {
	return r.walk(dir, top, func(lv string) error {
		qp := path.Join(lv, v1CPUQuota)
		qs, ok, err := r.readSmall(qp)
		if err != nil {
			return err
		}
		if !ok {
			r.step("%s: absent; no limit here", qp)
			return nil
		}
		quota, err := strconv.ParseInt(qs, 10, 64)
		if err != nil {
			return fmt.Errorf("cgroup: %s holds %q, want an integer (-1 for no quota): %w", qp, qs, err)
		}
		if quota <= 0 {
			r.step("%s: %s; no quota at this level", qp, qs)
			return nil
		}
		pp := path.Join(lv, v1CPUPeriod)
		ps, ok, err := r.readSmall(pp)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("cgroup: %s is %d but %s is missing; cannot compute the CPU quota, set the worker count explicitly", qp, quota, pp)
		}
		period, err := strconv.ParseInt(ps, 10, 64)
		if err != nil || period <= 0 {
			return fmt.Errorf("cgroup: %s holds %q, want a positive integer; cannot compute the CPU quota, set the worker count explicitly", pp, ps)
		}
		q := float64(quota) / float64(period)
		r.offerCPU(q, fmt.Sprintf("cgroup v1 %s: %d, %s: %d", qp, quota, v1CPUPeriod, period), qp, fmt.Sprintf("%d / %d", quota, period), cpu)
		return nil
	})
}

// walkV1Memory reads memory.limit_in_bytes at dir and each ancestor.
func (r *reader) walkV1Memory(dir, top string, mem *memBest) error {
	return r.walk(dir, top, func(lv string) error {
		p := path.Join(lv, v1MemoryLimit)
		s, ok, err := r.readSmall(p)
		if err != nil {
			return err
		}
		if !ok {
			r.step("%s: absent; no limit here", p)
			return nil
		}
		lim, err := parseMemory(p, s, "")
		if err != nil {
			return err
		}
		r.offerMem(lim, fmt.Sprintf("cgroup v1 %s: %s", p, s), p, s, mem)
		return nil
	})
}

func (r *reader) offerCPU(q float64, source, p, shown string, cpu *cpuBest) {
	switch {
	case q == 0:
		r.step("%s: %s; no quota at this level", p, shown)
	case cpu.offer(q, source):
		r.step("%s: %s = %.2f CPUs; tightest so far", p, shown, q)
	default:
		r.step("%s: %s = %.2f CPUs; looser than %.2f, ignored", p, shown, q, cpu.quota)
	}
}

func (r *reader) offerMem(lim int64, source, p, shown string, mem *memBest) {
	switch {
	case lim == 0:
		r.step("%s: %s; no limit at this level", p, shown)
	case mem.offer(lim, source):
		r.step("%s: %s = %s; tightest so far", p, shown, fmtBytes(lim))
	default:
		r.step("%s: %s = %s; looser than %s, ignored", p, shown, fmtBytes(lim), fmtBytes(mem.limit))
	}
}

// parseCPUMax parses cgroup v2 cpu.max, "$MAX $PERIOD" where $MAX may be
// "max" and $PERIOD may be left out. It returns the quota in CPUs, 0 for no
// quota.
func parseCPUMax(p, s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, fmt.Errorf("cgroup: %s holds %q, want \"<quota|max> <period>\"; set the worker count explicitly", p, s)
	}
	if f[0] == "max" {
		return 0, nil
	}
	quota, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || quota <= 0 {
		return 0, fmt.Errorf("cgroup: %s holds %q: quota %q is not \"max\" or a positive integer; set the worker count explicitly", p, s, f[0])
	}
	period := int64(v2DefaultPeriod)
	if len(f) == 2 {
		period, err = strconv.ParseInt(f[1], 10, 64)
		if err != nil || period <= 0 {
			return 0, fmt.Errorf("cgroup: %s holds %q: period %q is not a positive integer; set the worker count explicitly", p, s, f[1])
		}
	}
	return float64(quota) / float64(period), nil
}

// parseMemory parses a memory limit in bytes; unlimited ("max" on v2, or a
// value >= 1<<62 such as v1's 9223372036854771712) gives 0.
func parseMemory(p, s, maxWord string) (int64, error) {
	if maxWord != "" && s == maxWord {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		want := "a byte count"
		if maxWord != "" {
			want += " or \"" + maxWord + "\""
		}
		return 0, fmt.Errorf("cgroup: %s holds %q, want %s", p, s, want)
	}
	if v >= noLimit {
		return 0, nil
	}
	return int64(v), nil
}
