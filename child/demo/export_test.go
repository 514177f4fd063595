package demo

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestExportIsValidJSONWithAllRows(t *testing.T) {
	srv := httptest.NewServer(New(""))
	defer srv.Close()
	for _, rows := range []int{0, 1, 2500} {
		resp, body := get(t, "GET", srv.URL+"/export?rows="+strconv.Itoa(rows))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("rows=%d: status %d, Content-Type %q", rows, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var got []Record
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("rows=%d: body is not a JSON array of records: %v", rows, err)
		}
		if len(got) != rows {
			t.Fatalf("rows=%d: got %d records", rows, len(got))
		}
		for i, r := range got {
			want := MakeRecord(int64(i))
			if r.ID != want.ID || r.Name != want.Name || r.Email != want.Email || r.Amount != want.Amount || !r.Created.Equal(want.Created) {
				t.Fatalf("rows=%d: record %d = %+v; want %+v", rows, i, r, want)
			}
		}
	}
}

func TestPacedExportIsTheSameJSON(t *testing.T) {
	h := New("")
	get := func(url string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", url, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	for _, rows := range []string{"0", "3"} {
		if paced, plain := get("/export?rows="+rows+"&pace=1ms"), get("/export?rows="+rows); paced != plain {
			t.Errorf("rows=%s: paced export %q differs from the plain one %q", rows, paced, plain)
		}
	}
}
