package digest

import "testing"

func TestVerify(t *testing.T) {
	body := []byte("hello, digest")
	const good = "sha-256=:V8xD+lqIPadlbo15VK8Q1lItkpcZAgarhvCote0vV84=:"
	if err := Verify(good, body); err != nil {
		t.Fatalf("Verify(good): %v", err)
	}
	if err := Verify("sha-512=:AAAA:, "+good, body); err != nil {
		t.Fatalf("Verify with another algorithm first: %v", err)
	}
	for field, want := range map[string]string{
		"":               "no Content-Digest field after 13 body bytes",
		"sha-512=:AAAA:": "has no sha-256 member",
		"sha-256=abc":    "is not a :base64: byte sequence",
		"sha-256=:AAAA:": "is not a :base64: byte sequence",
		"sha-256=:" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" + ":": "the field says 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= but the 13 bytes received hash to V8xD+lqIPadlbo15VK8Q1lItkpcZAgarhvCote0vV84=",
	} {
		err := Verify(field, body)
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("Verify(%q) = %v; want an error containing %q", field, err, want)
		}
	}
}
