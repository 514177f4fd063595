package digest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/sluicegw/sluice/child/digest"
)

// Handler adds a Content-Digest trailer, computed over the bytes the
// wrapped handler wrote, to the responses of requests that ask for one.
// A client checks the body against it with Verify (or a Verifier while the
// body streams in).
func ExampleHandler() {
	h := digest.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, world\n")
	}))

	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(digest.WantField, digest.WantSHA256)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	field := resp.Trailer.Get(digest.Field)
	fmt.Println("declared:", resp.Header.Get("Trailer"))
	fmt.Println("trailer:", field)
	fmt.Println("verified:", digest.Verify(field, body) == nil)
	fmt.Println("a truncated body verifies:", digest.Verify(field, body[:5]) == nil)
	// Output:
	// declared: Content-Digest
	// trailer: sha-256=:hT/5N2Kgbdv3IsTr6d3WbY9j3a6pf1IcPswg2nyXYCA=:
	// verified: true
	// a truncated body verifies: false
}

// A request that does not ask gets the handler's response untouched.
func ExampleHandler_notAsked() {
	h := digest.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "6")
		io.WriteString(w, "hello\n")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	resp := rec.Result()
	fmt.Println("Content-Length:", resp.Header.Get("Content-Length"))
	fmt.Println("trailers:", len(resp.Trailer))
	// Output:
	// Content-Length: 6
	// trailers: 0
}
