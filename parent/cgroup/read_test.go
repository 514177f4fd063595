package cgroup

import (
	"path/filepath"
	"strings"
	"testing"
)

const k8sScope = "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f3c2a1e_8b4d_4c6e_9a7f_2d1e0b3c4a5f.slice/cri-containerd-7d9e4f2a1b3c5d6e8f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f.scope"

const k8sV1Pod = "/kubepods/burstable/pod7b2e9c4d-1a3f-4e5b-8c6d-9e0f1a2b3c4d"

func TestReadFromFixtures(t *testing.T) {
	tests := []struct {
		dir       string
		cpu       float64
		cpuSource string
		mem       int64
		memSource string
		steps     []string // substrings that must appear in some step
	}{
		{
			dir:       "v2-k8s-leaf-quota",
			cpu:       1.5,
			cpuSource: "cgroup v2 " + k8sScope + "/cpu.max: 150000 100000",
			mem:       512 << 20,
			memSource: "cgroup v2 " + filepath.ToSlash(filepath.Dir(k8sScope)) + "/memory.max: 536870912",
			steps: []string{
				"/kubepods.slice/cpu.max: max 100000; no quota at this level",
				"/sys/fs/cgroup/cpu.max: absent",
				"/kubepods.slice/memory.max: 7823949824 = 7.29 GiB; looser than 512.0 MiB, ignored",
			},
		},
		{
			dir:       "v2-parent-tighter",
			cpu:       0.5,
			cpuSource: "cgroup v2 /sys/fs/cgroup/sluice.slice/cpu.max: 50000 100000",
			mem:       1 << 30,
			memSource: "cgroup v2 /sys/fs/cgroup/sluice.slice/sluice@gw.service/memory.max: 1073741824",
			steps: []string{
				"sluice@gw.service/cpu.max: 200000 100000 = 2.00 CPUs; tightest so far",
				"sluice.slice/cpu.max: 50000 100000 = 0.50 CPUs; tightest so far",
			},
		},
		{
			dir:       "v2-container-no-limits",
			cpuSource: "none",
			memSource: "none",
			steps:     []string{`cgroup "/", mount root "/" at /sys/fs/cgroup → /sys/fs/cgroup`},
		},
		{
			dir:       "v2-outside-namespace",
			cpu:       1,
			cpuSource: "cgroup v2 /sys/fs/cgroup/cpu.max: 100000 100000",
			mem:       256 << 20,
			memSource: "cgroup v2 /sys/fs/cgroup/memory.max: 268435456",
			steps:     []string{`cgroup "/../sibling" is outside the root "/"`},
		},
		{
			dir:       "v1-docker-quota",
			cpu:       1,
			cpuSource: "cgroup v1 /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us: 100000, cpu.cfs_period_us: 100000",
			memSource: "none",
			steps: []string{
				"/sys/fs/cgroup/memory/memory.limit_in_bytes: 9223372036854771712; no limit at this level",
				"cgroup v2 (unified): process is in \"/system.slice/containerd.service\" but the hierarchy is not mounted",
			},
		},
		{
			dir:       "v1-k8s-parent-quota",
			cpu:       2.5,
			cpuSource: "cgroup v1 /sys/fs/cgroup/cpu,cpuacct" + k8sV1Pod + "/cpu.cfs_quota_us: 250000, cpu.cfs_period_us: 100000",
			mem:       2 << 30,
			memSource: "cgroup v1 /sys/fs/cgroup/memory" + k8sV1Pod + "/memory.limit_in_bytes: 2147483648",
			steps: []string{
				"/sys/fs/cgroup/unified/cpu.max: absent",
				"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us: -1; no quota at this level",
			},
		},
		{
			dir:       "hybrid-separate-v1",
			cpuSource: "none",
			memSource: "none",
			steps: []string{
				"/sys/fs/cgroup/cpu/cpu.cfs_quota_us: -1; no quota at this level",
				"/sys/fs/cgroup/memory/process_api/05b6e6d4367c700db6ac02edbab89e7e/memory.limit_in_bytes: 9223372036854771712; no limit",
				"/sys/fs/cgroup/memory/memory.limit_in_bytes: 9223372036854771712; no limit",
			},
		},
		{
			dir:       "no-cgroup-mounts",
			cpuSource: "none",
			memSource: "none",
			steps:     []string{"cgroup v2 (unified): process is in \"/\" but the hierarchy is not mounted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			l, err := ReadFrom(filepath.Join("testdata", tt.dir))
			for _, s := range l.Steps {
				t.Log(s)
			}
			if err != nil {
				t.Fatalf("ReadFrom: %v", err)
			}
			if l.CPUQuota != tt.cpu || l.CPUSource != tt.cpuSource {
				t.Errorf("cpu = %v from %q, want %v from %q", l.CPUQuota, l.CPUSource, tt.cpu, tt.cpuSource)
			}
			if l.MemoryLimit != tt.mem || l.MemorySource != tt.memSource {
				t.Errorf("memory = %v from %q, want %v from %q", l.MemoryLimit, l.MemorySource, tt.mem, tt.memSource)
			}
			if l.AffinityCPUs != 0 {
				t.Errorf("AffinityCPUs = %d, want 0 from ReadFrom", l.AffinityCPUs)
			}
			all := strings.Join(l.Steps, "\n")
			for _, want := range tt.steps {
				if !strings.Contains(all, want) {
					t.Errorf("no step contains %q", want)
				}
			}
		})
	}
}

func TestReadFromErrors(t *testing.T) {
	tests := []struct {
		dir  string
		want []string // substrings of the error
	}{
		{"v2-bad-cpu-max", []string{"/sys/fs/cgroup/cpu.max", `"150000 0"`, "period", "set the worker count explicitly"}},
		{"v1-bad-memory", []string{"/sys/fs/cgroup/memory/memory.limit_in_bytes", `"unlimited"`, "byte count"}},
		{"does-not-exist", []string{"/proc/self/cgroup", "is /proc mounted?"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			_, err := ReadFrom(filepath.Join("testdata", tt.dir))
			if err == nil {
				t.Fatal("ReadFrom succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"max 100000", 0, false},
		{"max", 0, false},
		{"150000 100000", 1.5, false},
		{"50000", 0.5, false}, // period left out: the kernel default 100000
		{"300000 100000", 3, false},
		{"", 0, true},
		{"1 2 3", 0, true},
		{"-1 100000", 0, true},
		{"abc 100000", 0, true},
		{"100000 max", 0, true},
	}
	for _, tt := range tests {
		got, err := parseCPUMax("cpu.max", tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseCPUMax(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in, maxWord string
		want        int64
		wantErr     bool
	}{
		{"max", "max", 0, false},
		{"536870912", "max", 512 << 20, false},
		{"9223372036854771712", "", 0, false}, // v1 "unlimited"
		{"4611686018427387904", "", 0, false}, // exactly 1<<62
		{"4611686018427387903", "", 1<<62 - 1, false},
		{"max", "", 0, true}, // "max" is not a v1 value
		{"-1", "", 0, true},
	}
	for _, tt := range tests {
		got, err := parseMemory("memory file", tt.in, tt.maxWord)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseMemory(%q, %q) = %v, %v; want %v, error %v", tt.in, tt.maxWord, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestUnder(t *testing.T) {
	tests := []struct {
		p, root string
		rel     string
		ok      bool
	}{
		{"/", "/", "", true},
		{"/a/b", "/", "a/b", true},
		{"/docker/x", "/docker/x", "", true},
		{"/docker/x/y", "/docker/x", "y", true},
		{"/docker/xy", "/docker/x", "", false},
		{"/docker", "/docker/x", "", false},
		{"/../sibling", "/", "", false},
		{"/a/../b", "/", "", false},
	}
	for _, tt := range tests {
		rel, ok := under(tt.p, tt.root)
		if rel != tt.rel || ok != tt.ok {
			t.Errorf("under(%q, %q) = %q, %v; want %q, %v", tt.p, tt.root, rel, ok, tt.rel, tt.ok)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/sys/fs/cgroup`:           "/sys/fs/cgroup",
		`/mnt/with\040space`:       "/mnt/with space",
		`/a\134b`:                  `/a\b`,
		`/trailing\04`:             `/trailing\04`,
		`/tab\011and\012newline\1`: "/tab\tand\nnewline\\1",
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLevels(t *testing.T) {
	got := strings.Join(levels("/sys/fs/cgroup/a/b", "/sys/fs/cgroup"), " ")
	if want := "/sys/fs/cgroup/a/b /sys/fs/cgroup/a /sys/fs/cgroup"; got != want {
		t.Errorf("levels = %q, want %q", got, want)
	}
	got = strings.Join(levels("/sys/fs/cgroup", "/sys/fs/cgroup"), " ")
	if want := "/sys/fs/cgroup"; got != want {
		t.Errorf("levels at the top = %q, want %q", got, want)
	}
}
