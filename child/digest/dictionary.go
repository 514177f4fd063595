package digest

import (
	"strconv"
	"strings"
)

// member is one member of an RFC 8941 structured-field dictionary: its key
// and its bare item value ("" for a key without a value, which means true).
// Parameters (";a=b") are dropped: neither field this package reads uses them.
type member struct {
	key, value string
}

// parseDictionary splits an RFC 8941 dictionary into its members. It is
// lenient where leniency is harmless (keys are lower-cased, empty members
// skipped) and keeps commas inside quoted strings, where they are not
// separators.
func parseDictionary(field string) []member {
	var out []member
	for _, raw := range splitOutsideQuotes(field, ',') {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if i := indexOutsideQuotes(raw, ';'); i >= 0 {
			raw = raw[:i]
		}
		key, value, _ := strings.Cut(raw, "=")
		out = append(out, member{key: strings.ToLower(strings.TrimSpace(key)), value: strings.TrimSpace(value)})
	}
	return out
}

func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	for {
		i := indexOutsideQuotes(s, sep)
		if i < 0 {
			return append(parts, s)
		}
		parts = append(parts, s[:i])
		s = s[i+1:]
	}
}

func indexOutsideQuotes(s string, sep byte) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return i
		}
	}
	return -1
}

// wantsSHA256 reports whether the Want-Content-Digest field lines ask for
// sha-256. RFC 9530 gives each algorithm a preference from 0 to 10 where 0
// means "not acceptable"; a bare key is the boolean true and counts as yes.
func wantsSHA256(lines []string) bool {
	if len(lines) == 0 {
		return false // the usual case, which must cost no allocation
	}
	for _, m := range parseDictionary(strings.Join(lines, ",")) {
		if m.key != "sha-256" {
			continue
		}
		if m.value == "" || m.value == "?1" {
			return true
		}
		n, err := strconv.Atoi(m.value)
		return err == nil && n > 0
	}
	return false
}
