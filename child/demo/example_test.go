package demo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/sluicegw/sluice/child/demo"
)

// The demo handler is an ordinary http.Handler; here it is served by
// httptest instead of a sluice worker. What /payload sends can be
// regenerated with Payload, so a client can check every byte it got.
func ExampleNew() {
	srv := httptest.NewServer(demo.New(""))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL + "/payload?size=1MiB&seed=7")
	if err != nil {
		fmt.Println(err)
		return
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := io.ReadAll(demo.Payload(7, 1<<20))
	fmt.Println(resp.Status, len(got), "bytes, as generated:", bytes.Equal(got, want))

	resp, err = client.Get(srv.URL + "/payload?size=lots")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// 200 OK 1048576 bytes, as generated: true
	// 400 Bad Request
}

// /export streams a JSON array whose rows MakeRecord regenerates.
func ExampleMakeRecord() {
	srv := httptest.NewServer(demo.New(""))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	resp, err := client.Get(srv.URL + "/export?rows=3")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var rows []demo.Record
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(rows), "rows")
	for _, r := range rows {
		want := demo.MakeRecord(r.ID)
		fmt.Println(r.ID, r.Name == want.Name && r.Email == want.Email && r.Created.Equal(want.Created))
	}
	// Output:
	// 3 rows
	// 0 true
	// 1 true
	// 2 true
}

// ParseSize reads the sizes the demo's parameters (and sluice's flags) take.
func ExampleParseSize() {
	for _, s := range []string{"4096", "64KiB", "27MiB", "10MB"} {
		n, _ := demo.ParseSize(s)
		fmt.Println(s, n)
	}
	// Output:
	// 4096 4096
	// 64KiB 65536
	// 27MiB 28311552
	// 10MB 10000000
}
