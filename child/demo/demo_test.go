package demo

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestErrorsNameParameterValueAndReason(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()
	for _, tc := range []struct {
		query, want string
	}{
		{"/payload?size=12XB", `size "12XB": unknown unit "XB"; use B, KiB, MiB, GiB`},
		{"/payload", `size "": missing`},
		{"/payload?size=2TiB", `size "2TiB": larger than the maximum`},
		{"/payload?size=1&cpu=fast", `cpu "fast": not a duration`},
		{"/payload?size=1&cpu=-1s", `cpu "-1s": not a duration`},
		{"/payload?size=1&seed=-3", `seed "-3": not an unsigned`},
		{"/payload?size=1&wait=soon", `wait "soon": not a duration between 0 and 10m`},
		{"/payload?size=1&wait=-5ms", `wait "-5ms": not a duration`},
		{"/payload?size=1&wait=11m", `wait "11m": not a duration between 0 and 10m`},
		{"/export?rows=lots", `rows "lots": not an integer`},
		{"/export", `rows "": not an integer`},
		{"/export?rows=100000001", `rows "100000001"`},
	} {
		resp, body := get(t, "GET", srv.URL+tc.query)
		if resp.StatusCode != 400 || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d %q; want 400 containing %q", tc.query, resp.StatusCode, body, tc.want)
		}
	}
}

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()

	resp, body := get(t, "GET", srv.URL+"/")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/payload?size=SIZE") {
		t.Errorf("GET /: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, "GET", srv.URL+"/nope")
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"/nope"`) || !strings.Contains(string(body), "/export?rows=N") {
		t.Errorf("GET /nope: %d %q; want 404 listing the routes", resp.StatusCode, body)
	}
	resp, body = get(t, "POST", srv.URL+"/payload?size=1")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" || !strings.Contains(string(body), "POST") {
		t.Errorf("POST /payload: %d Allow=%q %q", resp.StatusCode, resp.Header.Get("Allow"), body)
	}
}
