package child

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/ipc/settings"
)

func TestVerifyConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" means valid
	}{
		{Config{}, ""},
		{Config{MaxInFlight: 1, HighWatermark: 1 << 20, LowWatermark: 1 << 20, QueueLimit: 1 << 20, SendBuffer: -1}, ""},
		{Config{MaxInFlight: -1}, "MaxInFlight -1"},
		{Config{HighWatermark: -1}, "HighWatermark -1"},
		{Config{LowWatermark: -5}, "LowWatermark -5"},
		{Config{QueueLimit: -1}, "QueueLimit -1"},
		{Config{HighWatermark: 1 << 20, LowWatermark: 2 << 20}, "LowWatermark 2097152 is above HighWatermark 1048576"},
		{Config{HighWatermark: 2 << 20, QueueLimit: 1 << 20}, "HighWatermark 2097152 is above QueueLimit 1048576"},
		{Config{SendBuffer: 1 << 31}, "SendBuffer"},
	} {
		err := VerifyConfig(&tc.cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
	if err := VerifyConfig(nil); err != nil {
		t.Errorf("nil config: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	s := (&Config{}).settings()
	if s.maxInFlight != 0 || s.high != 8<<20 || s.low != 2<<20 || s.limit != 16<<20 || s.sendBuffer != 4<<20 || !s.admission {
		t.Errorf("defaults %+v", s)
	}
	s = (&Config{HighWatermark: 1 << 20, SendBuffer: -1}).settings()
	if s.low != 256<<10 || s.limit != 2<<20 || s.sendBuffer != -1 {
		t.Errorf("derived defaults %+v", s)
	}
}

func TestMainConfig(t *testing.T) {
	t.Setenv(settings.EnvMaxInFlight, "3")
	t.Setenv(settings.EnvHighWatermark, "16MiB")
	t.Setenv(settings.EnvLowWatermark, "0")
	t.Setenv(settings.EnvQueueLimit, "64MiB")
	t.Setenv(settings.EnvSendBuffer, "-1")
	t.Setenv(settings.EnvAdmission, "off")
	t.Setenv(settings.EnvSched, "round-robin")
	t.Setenv(settings.EnvLogFormat, "json")
	c, err := MainConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInFlight != 3 || c.HighWatermark != 16<<20 || c.LowWatermark != 0 || c.QueueLimit != 64<<20 ||
		c.SendBuffer != -1 || !c.DisableAdmission || c.IPC == nil || c.IPC.Policy != "round-robin" || c.Logger == nil {
		t.Errorf("MainConfig: %+v", c)
	}
}

func TestMainConfigErrors(t *testing.T) {
	for _, tc := range []struct{ env, value, want string }{
		{settings.EnvMaxInFlight, "four", `SLUICE_MAX_INFLIGHT="four"`},
		{settings.EnvHighWatermark, "8 parsecs", `unknown unit "parsecs"`},
		{settings.EnvSendBuffer, "4XB", `SLUICE_SNDBUF="4XB"`},
		{settings.EnvAdmission, "maybe", "use on or off"},
		{settings.EnvSched, "random", "use sequential or round-robin"},
		{settings.EnvLogFormat, "xml", "use text or json"},
		{settings.EnvLowWatermark, "1GiB", `SLUICE_LOW_WATERMARK="1GiB": above SLUICE_HIGH_WATERMARK`},
		{settings.EnvSendBuffer, "2GiB", "too large for a socket buffer"},
		{settings.EnvFD, "1", "SLUICE_FD"},
		{settings.EnvCompress, "gzip,br", `SLUICE_COMPRESS="gzip,br": coding "br"`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := MainConfig()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s=%q: %v, want an error saying %q", tc.env, tc.value, err, tc.want)
			}
		})
	}
}

func TestMainConfigCompress(t *testing.T) {
	for value, want := range map[string][]string{"": {"zstd", "gzip"}, "off": nil, "gzip": {"gzip"}} {
		t.Setenv(settings.EnvCompress, value)
		c, err := MainConfig()
		if err != nil || c.Compress == nil || !slices.Equal(c.Compress.Codings, want) {
			t.Errorf("%s=%q: %+v, %v; want codings %q", settings.EnvCompress, value, c, err, want)
		}
	}
	if err := VerifyConfig(&Config{Compress: &settings.Compression{Codings: []string{"br"}}}); err == nil || !strings.Contains(err.Error(), `"br"`) {
		t.Errorf("VerifyConfig with coding br: %v; want an error naming it", err)
	}
}

func TestSocketFDDefault(t *testing.T) {
	t.Setenv(settings.EnvFD, "")
	if fd, err := socketFD(); fd != settings.DefaultFD || err != nil {
		t.Errorf("socketFD with SLUICE_FD unset: %d, %v; want 3", fd, err)
	}
}
