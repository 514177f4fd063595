package settings

import (
	"fmt"
	"mime"
	"strings"
)

// EnvCompress is how the worker compresses responses, in the syntax of
// ParseCompression. Unset or empty means DefaultCompress; "off" means no
// compression.
const EnvCompress = "SLUICE_COMPRESS"

// Compression codings a worker can apply.
const (
	CodingZstd = "zstd"
	CodingGzip = "gzip"
)

// CompressOff is the --compress value that turns compression off.
const CompressOff = "off"

// DefaultCompress is the --compress default: zstd where the client accepts
// it at least as much as gzip, else gzip, for bodies of DefaultCompressMinSize
// or more of any type but the incompressible ones (IncompressibleTypes).
// On by default because the large responses users send are exports (JSON,
// CSV, NDJSON) that shrink several times; a client that sends no
// Accept-Encoding, and every incompressible type, are answered as before.
const DefaultCompress = CodingZstd + "," + CodingGzip

// DefaultCompressMinSize is the body size below which a response is not
// compressed. Below about one TCP segment (1448 bytes of payload on a
// 1500-byte MTU), compressing saves no packet but costs the encoder's setup
// and a frame header; gzhttp and nginx's usual configurations draw the line
// at 1 KiB for the same reason. The benchmark BenchmarkCompressSmall in
// package child measures the bytes saved and the time spent by body size
// (bench/README.md, "export and upload").
const DefaultCompressMinSize = 1 << 10

// IncompressibleTypes are the media types a worker never compresses unless
// --compress names them in types=: their bytes are compressed already, or
// random. A pattern ending in "/*" matches the whole top-level type, and
// image/svg+xml is an exception to image/* (it is text).
var IncompressibleTypes = []string{
	"application/octet-stream",
	"application/zip", "application/gzip", "application/x-gzip", "application/zstd",
	"application/x-bzip2", "application/x-xz", "application/x-7z-compressed",
	"application/x-rar-compressed", "application/pdf",
	"image/*", "video/*", "audio/*",
	"font/woff", "font/woff2",
}

// Compression is a parsed --compress value.
type Compression struct {
	// Codings lists the codings in order of preference, for a client that
	// accepts several with the same q-value. Empty means off.
	Codings []string
	// MinSize is the least body size compressed, in bytes.
	MinSize int64
	// Types, if not empty, are the only media types compressed (patterns
	// as in IncompressibleTypes); empty means every type but
	// IncompressibleTypes.
	Types []string
}

// ParseCompression parses a --compress value: "off", or a comma-separated
// list of codings (zstd, gzip) in order of preference, optionally followed
// by ";min=SIZE" (the least body size compressed, default
// DefaultCompressMinSize) and ";types=TYPE,TYPE" (the only media types
// compressed, e.g. text/*,application/json; default every type but
// IncompressibleTypes). Empty means DefaultCompress.
// Examples: "zstd,gzip", "gzip;min=4KiB", "zstd,gzip;types=application/json,text/csv".
func ParseCompression(s string) (Compression, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = DefaultCompress
	}
	c := Compression{MinSize: DefaultCompressMinSize}
	if s == CompressOff {
		return c, nil
	}
	parts := strings.Split(s, ";")
	for coding := range strings.SplitSeq(parts[0], ",") {
		coding = strings.ToLower(strings.TrimSpace(coding))
		switch coding {
		case CodingZstd, CodingGzip:
		default:
			return Compression{}, fmt.Errorf("coding %q is not one a worker can apply; list zstd and/or gzip in order of preference, or say %s", coding, CompressOff)
		}
		for _, seen := range c.Codings {
			if seen == coding {
				return Compression{}, fmt.Errorf("coding %q is listed twice; list each once, in order of preference", coding)
			}
		}
		c.Codings = append(c.Codings, coding)
	}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch {
		case !ok:
			return Compression{}, fmt.Errorf("%q is not a key=value option; use min=SIZE or types=TYPE,TYPE", p)
		case k == "min":
			n, err := ParseSize(v)
			if err != nil {
				return Compression{}, fmt.Errorf("min=%s: %s", v, sizeWhy(err))
			}
			c.MinSize = n
		case k == "types":
			c.Types = nil
			for t := range strings.SplitSeq(v, ",") {
				t = strings.ToLower(strings.TrimSpace(t))
				if _, _, err := mime.ParseMediaType(strings.Replace(t, "/*", "/x", 1)); err != nil || !strings.Contains(t, "/") {
					return Compression{}, fmt.Errorf("types: %q is not a media type; use e.g. application/json or text/*", t)
				}
				c.Types = append(c.Types, t)
			}
		default:
			return Compression{}, fmt.Errorf("unknown option %q; use min=SIZE or types=TYPE,TYPE", k)
		}
	}
	return c, nil
}

// Compresses reports whether c compresses a response of media type ct (a
// Content-Type value; parameters are ignored).
func (c Compression) Compresses(ct string) bool {
	mt := ct
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	if len(c.Types) > 0 {
		return matchType(c.Types, mt)
	}
	if mt == "image/svg+xml" {
		return true
	}
	return !matchType(IncompressibleTypes, mt) && !strings.HasSuffix(mt, "+zip")
}

func matchType(patterns []string, mt string) bool {
	for _, p := range patterns {
		if top, ok := strings.CutSuffix(p, "/*"); ok {
			if t, _, _ := strings.Cut(mt, "/"); t == top {
				return true
			}
		} else if p == mt {
			return true
		}
	}
	return false
}
