package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestExitStatusAndJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write(bytes.Repeat([]byte("x"), 1000))
	}))
	defer srv.Close()
	jsonFile := filepath.Join(t.TempDir(), "run.jsonl")
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-url", srv.URL + "/ok", "-n", "3", "-c", "2", "-label", "okrun", "-json", jsonFile}, 0, "okrun"},
		{[]string{"-url", srv.URL + "/busy", "-n", "2"}, 1, "503×2"},
		{[]string{"-url", srv.URL + "/ok", "-n", "4", "-rate", "200"}, 0, "200/s"},
		{[]string{"-url", srv.URL + "/ok", "-n", "2", "-rate", "-1"}, 2, ""},
		{[]string{"-url", srv.URL + "/busy", "-n", "2", "-allow-status", "503"}, 0, "503×2"},
		{[]string{"-url", "nonsense", "-n", "2"}, 2, ""},
		{[]string{"-url", srv.URL, "-allow-status", "fine"}, 2, ""},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stdout.String(), tc.out) {
			t.Errorf("sluice-load %v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.out)
		}
	}
	f, err := os.Open(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kinds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Kind, Label string
			Bytes       int64
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Label != "okrun" {
			t.Fatalf("JSON line %q: %+v, %v", sc.Text(), line, err)
		}
		kinds = append(kinds, line.Kind)
	}
	if strings.Join(kinds, ",") != "request,request,request,summary" {
		t.Fatalf("JSON line kinds %v; want 3 requests then a summary", kinds)
	}
}
