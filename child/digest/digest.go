// Package digest adds RFC 9530 Content-Digest trailers to any http.Handler
// and verifies them on the client side.
//
// A client that sends "Want-Content-Digest: sha-256=1" gets, after the body,
// a trailer "Content-Digest: sha-256=:BASE64:" computed over the bytes the
// handler actually wrote. Because the digest travels after the body, a
// response that was cut short can never carry a valid one: this is how the
// bench and end users tell a complete large download from a truncated one.
//
// The digest covers the encoded content (RFC 9530 section 2): wrap Handler
// around any compression handler, so that it hashes what is sent.
package digest

import (
	"context"
	"crypto/sha256"
	"net/http"
)

// Names of the fields this package reads and writes.
const (
	// WantField is the request header in which a client asks for a digest.
	WantField = "Want-Content-Digest"
	// Field is the trailer that carries the digest.
	Field = "Content-Digest"
	// WantSHA256 is the WantField value that asks for a sha-256 digest.
	WantSHA256 = "sha-256=1"
)

// Handler wraps h so that responses to requests that want a sha-256
// Content-Digest carry one as a trailer. Other requests (and HEAD requests,
// which have no body to digest) pass through untouched.
//
// Over HTTP/1.x a trailer needs chunked encoding, so when it adds the trailer
// Handler drops a Content-Length that h set: the client asked for integrity
// over a length it could not verify anyway.
//
// Handlers nest: only the outermost of a chain digests, and those inside it
// pass the response through, so that wrapping a handler that is wrapped
// already (as child.Serve does around its compression) yields one trailer,
// over the bytes as they leave the outermost.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead || !wantsSHA256(r.Header.Values(WantField)) || r.Context().Value(outerKey{}) != nil {
			h.ServeHTTP(rw, r)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), outerKey{}, true))
		w := &writer{rw: rw, sum: sha256.New(), http1: r.ProtoMajor < 2}
		// If h panics no trailer is set: a response that did not finish
		// must not be vouched for.
		h.ServeHTTP(w, r)
		w.finish()
	})
}

// outerKey marks, in a request's context, that a Handler outside digests
// its response.
type outerKey struct{}
