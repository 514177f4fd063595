package parent

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAdminGuard: with a token, every admin endpoint but the probes' and
// the scraper's needs it, compared whole; the Host check refuses names
// that are not loopback, the listen address or allowed.
func TestAdminGuard(t *testing.T) {
	e := gwStart(t, Config{})
	h := AdminGuard{Token: "s3cret", CheckHost: true, Hosts: []string{"admin.internal", "10.1.2.3"}}.Wrap(e.g.AdminHandler())
	cases := []struct {
		path, host, auth string
		want             int
	}{
		{"/healthz", "127.0.0.1:9090", "", 200},
		{"/metrics", "localhost:9090", "", 200},
		{"/readyz", "[::1]:9090", "", 503}, // no worker is up: the probe answers, unguarded
		{"/status", "127.0.0.1:9090", "", 401},
		{"/status", "127.0.0.1:9090", "Bearer wrong", 401},
		{"/status", "127.0.0.1:9090", "Bearer s3cre", 401},
		{"/status", "127.0.0.1:9090", "Basic s3cret", 401},
		{"/status", "127.0.0.1:9090", "Bearer s3cret", 200},
		{"/status", "127.0.0.1:9090", "bearer s3cret", 200}, // the scheme is case-insensitive
		{"/status", "127.0.0.1:9090", "Bearers3cret", 401},
		{"/config", "127.0.0.1:9090", "", 401},
		{"/debug/pprof/cmdline", "127.0.0.1:9090", "", 401},
		{"/debug/pprof/cmdline", "127.0.0.1:9090", "Bearer s3cret", 200},
		{"/debug/workers/0/pprof/heap", "127.0.0.1", "", 401},
		{"/status", "ADMIN.internal:9090", "Bearer s3cret", 200},
		{"/status", "10.1.2.3", "Bearer s3cret", 200},
		// DNS rebinding: the page's own name, whatever it resolves to.
		{"/healthz", "evil.example:9090", "", 421},
		{"/status", "evil.example", "Bearer s3cret", 421},
		{"/healthz", "127.0.0.1.evil.example", "", 421},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", c.path, nil)
		req.Host = c.host
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("GET %s Host %s auth %q: %d; want %d (%s)", c.path, c.host, c.auth, rec.Code, c.want, rec.Body)
		}
		if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s: 401 without WWW-Authenticate", c.path)
		}
	}

	open := AdminGuard{}.Wrap(e.g.AdminHandler())
	req := httptest.NewRequest("GET", "/status", nil)
	req.Host = "anything"
	rec := httptest.NewRecorder()
	open.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("no token, no Host check: /status %d", rec.Code)
	}
	anyHost := AdminGuard{CheckHost: true, Hosts: []string{"*"}}.Wrap(e.g.AdminHandler())
	rec = httptest.NewRecorder()
	anyHost.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("Hosts *: /status with Host anything %d", rec.Code)
	}
}

func TestAdminPutConfigNeedsToken(t *testing.T) {
	e := gwStart(t, Config{})
	h := AdminGuard{Token: "t"}.Wrap(e.g.AdminHandler())
	srv := httptest.NewServer(h)
	defer srv.Close()
	req := gwRequest(t, "PUT", srv.URL+"/config", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("PUT /config without the token: %d", resp.StatusCode)
	}
}
