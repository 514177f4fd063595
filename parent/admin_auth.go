package parent

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// AdminGuard is who may use the admin endpoints (see README, "The admin
// listener's threat model").
type AdminGuard struct {
	// Token, when not empty, must come as "Authorization: Bearer TOKEN"
	// with every request but those of the probes and the scraper
	// (/healthz, /readyz, /metrics): /config changes the gateway, and
	// /status, pprof and the workers' pprof reveal pids, command lines
	// and memory.
	Token string

	// Hosts are the Host header values (without a port, case-insensitive)
	// accepted besides the loopback names and addresses, so that a page
	// in a local browser that rebinds its own name to 127.0.0.1 (DNS
	// rebinding) is answered 421 rather than served. "*" accepts any.
	// Nil with CheckHost false means no Host check (a Unix socket, which
	// no browser reaches).
	Hosts []string

	// CheckHost turns the Host check on.
	CheckHost bool
}

// openAdminPaths are the endpoints a token does not guard: probes and the
// scraper must reach them without one, and they reveal no command line,
// memory or setting.
var openAdminPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// Wrap returns h behind the guard's checks.
func (ag AdminGuard) Wrap(h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(ag.Token))
	anyHost := false
	hosts := map[string]bool{}
	for _, x := range ag.Hosts {
		if x == "*" {
			anyHost = true
		}
		hosts[strings.ToLower(strings.TrimSuffix(x, "."))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ag.CheckHost && !anyHost && !adminHostAllowed(r.Host, hosts) {
			http.Error(w, "sluice admin: Host "+quoteHost(r.Host)+" is not this admin listener's (add it with --admin-allow-host)", http.StatusMisdirectedRequest)
			return
		}
		if ag.Token != "" && !openAdminPaths[r.URL.Path] {
			got, ok := bearerToken(r.Header.Get("Authorization"))
			// Hashing first makes the comparison's time independent of
			// the lengths too.
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sluice admin"`)
				http.Error(w, "sluice admin: this endpoint needs Authorization: Bearer <--admin-token>", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// adminHostAllowed reports whether host (a Host header, maybe with a port)
// names a loopback address, localhost, or one of allowed.
func adminHostAllowed(host string, allowed map[string]bool) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || allowed[host] {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	return strconv.Quote(h)
}

// bearerToken is the token of an Authorization field of the Bearer scheme,
// whose name is case-insensitive (RFC 9110, section 11.1).
func bearerToken(field string) (string, bool) {
	scheme, token, ok := strings.Cut(field, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return token, true
}
