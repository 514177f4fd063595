package ipc

import (
	"encoding/binary"
	"strings"
)

// Field is one name/value pair of a head or trailer block. ipc gives names no
// meaning; the gateway uses HTTP header names and pseudo-fields such as
// ":method" (see docs/PROTOCOL.md).
type Field struct {
	Name, Value string
}

// Fields is an ordered list of fields; a name may repeat.
type Fields []Field

// Get returns the value of the first field named name (case-insensitive
// for ASCII), or "".
func (f Fields) Get(name string) string {
	for _, kv := range f {
		if strings.EqualFold(kv.Name, name) {
			return kv.Value
		}
	}
	return ""
}

// maxFieldName bounds a name so that its length fits the 16-bit prefix.
const maxFieldName = 1<<16 - 1

// appendFields encodes f as a field block: for each field a uint16 name
// length, the name, a uint32 value length, the value.
func appendFields(dst []byte, f Fields) []byte {
	for _, kv := range f {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(kv.Name)))
		dst = append(dst, kv.Name...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(kv.Value)))
		dst = append(dst, kv.Value...)
	}
	return dst
}

func fieldsSize(f Fields) int {
	n := 0
	for _, kv := range f {
		n += 6 + len(kv.Name) + len(kv.Value)
	}
	return n
}

// parseFields decodes a field block; it never reads past b and copies what it
// keeps, so b can be reused. The names and values share one copy of the
// block, and the slice is sized by a first pass that checks the lengths, so
// a head costs two allocations however many fields it has.
func parseFields(b []byte) (Fields, error) {
	n := 0
	for rest := b; len(rest) > 0; n++ {
		if len(rest) < 2 {
			return nil, protoErrorf(CodeProtocol, "field block: %d stray bytes where a name length was expected", len(rest))
		}
		nl := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if nl == 0 {
			return nil, protoErrorf(CodeProtocol, "field block: empty field name")
		}
		if len(rest) < nl+4 {
			return nil, protoErrorf(CodeProtocol, "field block: name of %d bytes and value length need %d bytes, %d left", nl, nl+4, len(rest))
		}
		name := rest[:nl]
		rest = rest[nl:]
		vl := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(vl) > uint64(len(rest)) {
			return nil, protoErrorf(CodeProtocol, "field block: value of %q has length %d, %d bytes left", name, vl, len(rest))
		}
		rest = rest[vl:]
	}
	if n == 0 {
		return nil, nil
	}
	s := string(b)
	f := make(Fields, 0, n)
	for at := 0; at < len(s); {
		nl := int(binary.BigEndian.Uint16(b[at:]))
		name := s[at+2 : at+2+nl]
		at += 2 + nl
		vl := int(binary.BigEndian.Uint32(b[at:]))
		at += 4
		f = append(f, Field{Name: name, Value: s[at : at+vl]})
		at += vl
	}
	return f, nil
}
