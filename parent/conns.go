package parent

import (
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LimitListener returns ln accepting at most maxConns connections open at
// once (none when maxConns <= 0): past that, Accept waits for one to close,
// and new connections wait in the kernel's listen backlog rather than
// being refused, as nginx's worker_connections makes them. The connections
// it hands out count in sluice_http_open_connections, and the time spent
// at the limit in sluice_http_connection_limit_seconds_total. At the limit
// it first closes the oldest connection that is idle or has sent nothing
// (roomListener), so that a flood of silent connections cannot shut every
// client out; set ConnState on the server for idle ones to count. Call it
// once per Gateway: the figures are the Gateway's.
func (g *Gateway) LimitListener(ln net.Listener, maxConns int) net.Listener {
	c := &g.metrics.conns
	c.mu.Lock()
	c.max = maxConns
	c.mu.Unlock()
	if maxConns > 0 {
		// Connections closed for room are logged at most once a second:
		// under a flood there is one per new connection.
		room := newRateLog(g.log, time.Second)
		ln = newRoomListener(ln, maxConns, func() {
			room.warn("room", "connection limit reached: closed the oldest connection that was idle or had sent nothing, to make room", "max_conns", maxConns)
		})
	}
	return &countedListener{Listener: ln, conns: c}
}

// connStats counts the front's open connections and the time they were
// at the limit; a mutex, as opening and closing are rare next to requests
// and the figures must agree with each other.
type connStats struct {
	mu   sync.Mutex
	max  int // 0: no limit
	open int
	// atLimit is the time spent at the limit before atLimitSince, the
	// start of the current stretch while open == max.
	atLimit      time.Duration
	atLimitSince time.Time
}

func (c *connStats) opened() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open++
	if c.max > 0 && c.open == c.max {
		c.atLimitSince = time.Now()
	}
}

func (c *connStats) closed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.open == c.max {
		c.atLimit += time.Since(c.atLimitSince)
	}
	c.open--
}

// snapshot returns the open connections, the limit and the time at it so
// far, the current stretch included.
func (c *connStats) snapshot() (open, limit int, atLimit time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	atLimit = c.atLimit
	if c.max > 0 && c.open == c.max {
		atLimit += time.Since(c.atLimitSince)
	}
	return c.open, c.max, atLimit
}

type countedListener struct {
	net.Listener
	conns *connStats
}

func (l *countedListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.conns.opened()
	tuneFront(conn) // slowread.go
	return &countedConn{Conn: conn, conns: l.conns}, nil
}

// countedConn counts itself closed once, however often it is closed, and
// can hold a small response's writes to pass them on in one (coalesce.go).
type countedConn struct {
	net.Conn
	conns *connStats
	once  sync.Once
	// held is what the connection holds, while it holds (hold); owned by
	// the goroutine serving its current request.
	held *[]byte
	// bufs and sending are an overflowing write's writev, fields so that
	// it costs no allocation.
	bufs, sending net.Buffers
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.conns.closed)
	return err
}

var (
	descOpenConns    = prometheus.NewDesc("sluice_http_open_connections", "Client connections open on the front listener.", nil, nil)
	descMaxConns     = prometheus.NewDesc("sluice_http_max_connections", "The most client connections open at once (--max-conns); beyond it new ones wait in the listen backlog; -1 when unlimited.", nil, nil)
	descAtLimitConns = prometheus.NewDesc("sluice_http_connection_limit_seconds_total", "Time the front listener spent with --max-conns connections open, new ones waiting in the listen backlog.", nil, nil)
)

// connCollector reports connStats at scrape time.
type connCollector struct{ c *connStats }

func (cc connCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOpenConns
	ch <- descMaxConns
	ch <- descAtLimitConns
}

func (cc connCollector) Collect(ch chan<- prometheus.Metric) {
	open, limit, atLimit := cc.c.snapshot()
	ch <- prometheus.MustNewConstMetric(descOpenConns, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(descMaxConns, prometheus.GaugeValue, float64(limit))
	ch <- prometheus.MustNewConstMetric(descAtLimitConns, prometheus.CounterValue, atLimit.Seconds())
}

// Workers is the number of worker slots the Gateway runs (Config.Workers,
// or what it was sized to from the container), known before Start, so a
// front can reserve descriptors for their sockets.
func (g *Gateway) Workers() int { return g.cfg.Workers }
