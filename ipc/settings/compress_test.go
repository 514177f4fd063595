package settings

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]Compression{
		"":                                    {Codings: []string{"zstd", "gzip"}, MinSize: DefaultCompressMinSize},
		"off":                                 {MinSize: DefaultCompressMinSize},
		" gzip ":                              {Codings: []string{"gzip"}, MinSize: DefaultCompressMinSize},
		"GZIP,zstd;min=4KiB":                  {Codings: []string{"gzip", "zstd"}, MinSize: 4096},
		"zstd;min=0":                          {Codings: []string{"zstd"}},
		"zstd;types=text/*, application/json": {Codings: []string{"zstd"}, MinSize: DefaultCompressMinSize, Types: []string{"text/*", "application/json"}},
	} {
		got, err := ParseCompression(in)
		if err != nil || !slices.Equal(got.Codings, want.Codings) || got.MinSize != want.MinSize || !slices.Equal(got.Types, want.Types) {
			t.Errorf("ParseCompression(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"br":              `coding "br"`,
		"gzip,gzip":       "twice",
		"gzip;min=lots":   "min=lots",
		"gzip;min":        "key=value",
		"gzip;level=9":    `unknown option "level"`,
		"gzip;types=json": `"json" is not a media type`,
		",gzip":           `coding ""`,
	} {
		if _, err := ParseCompression(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseCompression(%q) = %v; want an error saying %q", in, err, why)
		}
	}
}

func TestCompresses(t *testing.T) {
	def, _ := ParseCompression("")
	only, _ := ParseCompression("gzip;types=text/*,application/json")
	for _, c := range []struct {
		ct        string
		def, only bool
	}{
		{"application/json", true, true},
		{"application/json; charset=utf-8", true, true},
		{"text/csv", true, true},
		{"application/x-ndjson", true, false},
		{"", true, false},
		{"application/octet-stream", false, false},
		{"image/png", false, false},
		{"IMAGE/JPEG", false, false},
		{"image/svg+xml", true, false},
		{"application/zip", false, false},
		{"application/epub+zip", false, false},
		{"video/mp4", false, false},
	} {
		if got := def.Compresses(c.ct); got != c.def {
			t.Errorf("default Compresses(%q) = %v; want %v", c.ct, got, c.def)
		}
		if got := only.Compresses(c.ct); got != c.only {
			t.Errorf("types= Compresses(%q) = %v; want %v", c.ct, got, c.only)
		}
	}
}

func TestCompressEnv(t *testing.T) {
	w := Worker{Compress: "gzip;min=2KiB"}
	got, err := FromEnv(lookupIn(w.Env()))
	if err != nil || got.Compress != w.Compress {
		t.Fatalf("FromEnv(%q) = %+v, %v; want Compress %q", w.Env(), got, err, w.Compress)
	}
	_, err = FromEnv(lookupIn([]string{EnvCompress + "=brotli"}))
	var ee *EnvError
	if !errors.As(err, &ee) || ee.Name != EnvCompress || ee.Value != "brotli" {
		t.Fatalf("FromEnv(%s=brotli) = %v; want an EnvError naming it", EnvCompress, err)
	}
}
