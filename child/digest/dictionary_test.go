package digest

import "testing"

func TestWantsSHA256(t *testing.T) {
	for field, want := range map[string]bool{
		"":                              false,
		"sha-256=1":                     true,
		"sha-256":                       true,
		"SHA-256=10":                    true,
		"sha-256=?1":                    true,
		"sha-512=3, sha-256=1":          true,
		"sha-512=3,sha-256=2;x=\"a,b\"": true,
		"sha-256=0":                     false,
		"sha-512=3":                     false,
		"sha-512=3, md5=1":              false,
		"sha-256=lots":                  false,
		"x=\"sha-256=1, y\"":            false,
	} {
		if got := wantsSHA256([]string{field}); got != want {
			t.Errorf("wantsSHA256(%q) = %v; want %v", field, got, want)
		}
	}
	if !wantsSHA256([]string{"sha-512=1", "sha-256=1"}) {
		t.Error("a sha-256 member on a second field line was missed")
	}
}
