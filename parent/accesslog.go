package parent

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Access log formats (Config.AccessLogFormat).
const (
	AccessLogText = "text"
	AccessLogJSON = "json"
)

// ending is how an exchange ended, the access log's end field.
type ending uint8

const (
	// endComplete: the worker's response went out whole.
	endComplete ending = iota
	// endClientGone: the client went away (or its write failed) before
	// the response was complete; it got a truncated response or nothing.
	endClientGone
	// endSendTimeout: the client took no bytes for the send timeout.
	endSendTimeout
	// endWorkerLost: the worker failed the stream or died: a 502 before
	// the response, a cut after its head.
	endWorkerLost
	// endCutByDrain: the response was cut while the gateway drained.
	endCutByDrain
	// endRefused: 503, no worker took the request (the reason is in the
	// gateway's log and sluice_http_refused_total).
	endRefused
	// endTimeout: the request timeout passed: a 504 before the response,
	// a cut after its head.
	endTimeout
	// endBodyTooLarge: the body exceeded the body limit: a 413, or a cut
	// if the response had started.
	endBodyTooLarge
	// endBadBody: the request body did not arrive as declared (400).
	endBadBody
	// endHeadTooLarge: the request target (414) or head (431) was over
	// the head limit; no worker saw it.
	endHeadTooLarge
	// endBodyTimeout: the client sent nothing of its body for the body
	// timeout: a 408, or a cut if the response had started.
	endBodyTimeout
	// endWorkerStall: the worker made no progress for a worker timeout
	// (progress.go): a 504 before the response, a cut after its head.
	endWorkerStall
)

var endingNames = [...]string{
	endComplete:     "complete",
	endClientGone:   "client_gone",
	endSendTimeout:  "send_timeout",
	endWorkerLost:   "worker_lost",
	endCutByDrain:   "cut_by_drain",
	endRefused:      "refused",
	endTimeout:      "timeout",
	endBodyTooLarge: "body_too_large",
	endBadBody:      "bad_body",
	endHeadTooLarge: "head_too_large",
	endBodyTimeout:  "body_timeout",
	endWorkerStall:  "worker_timeout",
}

func (e ending) String() string { return endingNames[e] }

// statusClientClosed is what the access log records as the status of a
// request whose client went away before any response: nginx's 499.
const statusClientClosed = 499

// record is what the access log tells of one exchange; the exchange holds
// it, so that filling it costs no allocation.
type record struct {
	status int
	sent   int64         // response body bytes written to the client
	ttfb   time.Duration // arrival to the response head; 0 if none went out
	queued time.Duration // waiting for a worker's slot, over all attempts
	worker int           // the worker (slot id) that served it
	pid    int           // its pid; 0 if no worker did
	end    ending
	reqID  string
}

// accessLog writes one line per exchange. It encodes by appending into a
// pooled buffer rather than through slog: a record of a dozen attributes
// costs slog an allocation for the attributes beyond its inline five, and
// its level and msg keys mean nothing here. One Write per line, under a
// lock, so that lines from concurrent requests never interleave.
type accessLog struct {
	json bool
	mu   sync.Mutex
	w    io.Writer
}

func newAccessLog(w io.Writer, format string) *accessLog {
	if w == nil {
		return nil
	}
	return &accessLog{w: w, json: format == AccessLogJSON}
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// write logs the exchange of r, which arrived at arrived and ends now.
func (l *accessLog) write(r *http.Request, rec *record, arrived time.Time) {
	now := time.Now()
	bp := lineBufs.Get().(*[]byte)
	b := l.encode((*bp)[:0], r, rec, arrived, now)
	l.mu.Lock()
	// A failed write loses the line; there is nowhere better to say so
	// than the log that failed.
	l.w.Write(b)
	l.mu.Unlock()
	if cap(b) <= 4<<10 {
		*bp = b
		lineBufs.Put(bp)
	}
}

// encode appends the line. The target is the request line's, with its
// query, as nginx's $request_uri; bodies are never logged.
func (l *accessLog) encode(b []byte, r *http.Request, rec *record, arrived, now time.Time) []byte {
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	e := lineEncoder{b: b, json: l.json}
	e.open()
	e.time("time", now)
	e.str("client", clientHost(r.RemoteAddr))
	e.str("method", r.Method)
	e.str("uri", target)
	e.str("proto", r.Proto)
	e.int("status", int64(rec.status))
	e.int("bytes", rec.sent)
	e.seconds("duration_s", now.Sub(arrived))
	if rec.ttfb > 0 {
		e.seconds("ttfb_s", rec.ttfb)
	}
	if rec.pid != 0 {
		e.seconds("queue_s", rec.queued)
		e.int("worker", int64(rec.worker))
		e.int("pid", int64(rec.pid))
	}
	e.str("request_id", rec.reqID)
	e.str("end", rec.end.String())
	return e.close()
}

// clientHost is the host part of a RemoteAddr (nginx's $remote_addr); an
// address that is not host:port (a Unix socket's) is kept whole.
func clientHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// lineEncoder appends key/value pairs as logfmt (key=value, values quoted
// where they need it) or as one JSON object.
type lineEncoder struct {
	b     []byte
	json  bool
	first bool
}

func (e *lineEncoder) open() {
	e.first = true
	if e.json {
		e.b = append(e.b, '{')
	}
}

func (e *lineEncoder) close() []byte {
	if e.json {
		e.b = append(e.b, '}')
	}
	return append(e.b, '\n')
}

func (e *lineEncoder) key(k string) {
	if !e.first {
		if e.json {
			e.b = append(e.b, ',')
		} else {
			e.b = append(e.b, ' ')
		}
	}
	e.first = false
	if e.json {
		e.b = append(e.b, '"')
		e.b = append(e.b, k...)
		e.b = append(e.b, '"', ':')
		return
	}
	e.b = append(e.b, k...)
	e.b = append(e.b, '=')
}

// time appends t in UTC, RFC 3339 with milliseconds.
func (e *lineEncoder) time(k string, t time.Time) {
	e.key(k)
	if e.json {
		e.b = append(e.b, '"')
	}
	e.b = t.UTC().AppendFormat(e.b, "2006-01-02T15:04:05.000Z07:00")
	if e.json {
		e.b = append(e.b, '"')
	}
}

func (e *lineEncoder) str(k, v string) {
	e.key(k)
	switch {
	case e.json:
		e.b = appendJSONString(e.b, v)
	case v == "":
		e.b = append(e.b, '"', '"')
	case needsQuote(v):
		e.b = strconv.AppendQuote(e.b, v)
	default:
		e.b = append(e.b, v...)
	}
}

func (e *lineEncoder) int(k string, v int64) {
	e.key(k)
	e.b = strconv.AppendInt(e.b, v, 10)
}

// seconds appends a duration in seconds with microseconds, as nginx's
// $request_time does in seconds with milliseconds.
func (e *lineEncoder) seconds(k string, d time.Duration) {
	e.key(k)
	e.b = strconv.AppendFloat(e.b, d.Seconds(), 'f', 6, 64)
}

// needsQuote reports whether a logfmt value must be quoted: it has a
// space, a quote, an equals sign, or a byte that is not printable ASCII
// (as slog's TextHandler decides).
func needsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '"' || c == '=' || c >= utf8.RuneSelf || c == '\\' {
			return true
		}
	}
	return false
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control bytes escaped, invalid UTF-8 replaced by U+FFFD. encoding/json
// would allocate for each value; this is its escaping, less the HTML-safe
// escapes that a log line does not need.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < ' ':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
