package digest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
)

// Verifier checks a body against a Content-Digest field. Write the body to
// it as it arrives (it never fails), then call Check with the trailer.
type Verifier struct {
	sum hash.Hash
	n   int64
}

// NewVerifier returns a Verifier for a sha-256 Content-Digest.
func NewVerifier() *Verifier {
	return &Verifier{sum: sha256.New()}
}

// Write adds p to the digested body.
func (v *Verifier) Write(p []byte) (int, error) {
	v.n += int64(len(p))
	return v.sum.Write(p)
}

// Check reports whether the Content-Digest field value (e.g. the trailer
// "sha-256=:...:") matches the bytes written so far. The error says which
// digest was expected and which one the body has.
func (v *Verifier) Check(field string) error {
	if strings.TrimSpace(field) == "" {
		return fmt.Errorf("no %s field after %d body bytes: the server ignored %s or the response was cut short", Field, v.n, WantField)
	}
	for _, m := range parseDictionary(field) {
		if m.key != "sha-256" {
			continue
		}
		b64, ok := strings.CutPrefix(m.value, ":")
		if ok {
			b64, ok = strings.CutSuffix(b64, ":")
		}
		want, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || len(want) != sha256.Size {
			return fmt.Errorf("%s sha-256 value %q is not a :base64: byte sequence of %d bytes; the server's digest is malformed", Field, m.value, sha256.Size)
		}
		if got := v.sum.Sum(nil); !bytes.Equal(got, want) {
			return fmt.Errorf("%s sha-256 mismatch: the field says %s but the %d bytes received hash to %s; the body was altered or truncated on the way",
				Field, b64, v.n, base64.StdEncoding.EncodeToString(got))
		}
		return nil
	}
	return fmt.Errorf("%s %q has no sha-256 member; ask for one with %q", Field, field, WantField+": "+WantSHA256)
}

// Verify checks body against a Content-Digest field value.
func Verify(field string, body []byte) error {
	v := NewVerifier()
	v.Write(body)
	return v.Check(field)
}
