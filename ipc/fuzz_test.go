package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// decodeAll runs the frame decoder over b the way the reader does: header,
// then payload, then the type's own parser. It must never panic, and every
// failure must be an error.
func decodeAll(b []byte) error {
	r := bytes.NewReader(b)
	hdr := make([]byte, HeaderSize)
	buf := make([]byte, minFramePayload)
	for {
		h, p, err := readFrame(r, hdr, buf, minFramePayload)
		if err != nil {
			if errors.Is(err, io.EOF) && r.Len() == 0 {
				return nil
			}
			return err
		}
		switch h.Type {
		case FrameHead:
			_, err = parseFields(p)
		case FrameEnd:
			_, err = parseFields(p[4:])
		case FrameHello:
			_, err = ParseHello(p)
		case FrameLoad:
			parseLoad(p)
		case FrameGoAway:
			_ = binary.BigEndian.Uint32(p[4:8])
		case FrameWindow, FrameReset:
			_ = binary.BigEndian.Uint32(p)
		}
		if err != nil {
			return err
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, seed := range seedFrames() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := decodeAll(b)
		var pe *ProtocolError
		if err != nil && !errors.As(err, &pe) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("decoder error is neither a protocol error nor a short input: %v", err)
		}
	})
}

func FuzzHandshake(f *testing.F) {
	f.Add(defaultHello().frame()[HeaderSize:])
	h := defaultHello()
	h.Role = RoleAcceptor
	f.Add(h.frame()[HeaderSize:])
	f.Add([]byte("SLCE"))
	f.Fuzz(func(t *testing.T, p []byte) {
		peer, err := ParseHello(p)
		if err != nil {
			return
		}
		local := defaultHello()
		local.Role = RoleOpener
		v, err := negotiate(local, peer)
		if err == nil && (v < MinVersion || v > MaxVersion || peer.Role != RoleAcceptor) {
			t.Fatalf("negotiated version %d with role %s", v, peer.Role)
		}
	})
}

// TestFieldsRoundTrip: what appendFields writes, parseFields reads back.
func TestFieldsRoundTrip(t *testing.T) {
	f := Fields{{":method", "GET"}, {":path", "/a?b=c"}, {"X-Empty", ""}, {"X-Big", string(bytes.Repeat([]byte("v"), 70000))}}
	got, err := parseFields(appendFields(nil, f))
	if err != nil || len(got) != len(f) {
		t.Fatalf("%v, %v", got, err)
	}
	for i := range f {
		if got[i] != f[i] {
			t.Fatalf("field %d: %q, want %q", i, got[i].Name, f[i].Name)
		}
	}
}

// TestSeedCorpusDecodes: the valid seeds decode without error, so the fuzz
// corpus starts from real traffic.
func TestSeedCorpusDecodes(t *testing.T) {
	for i, s := range seedFrames()[:4] {
		if err := decodeAll(s); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
}

func seedFrames() [][]byte {
	head := appendFrame(nil, FrameHead, 0, 1, appendFields(nil, Fields{{":method", "GET"}, {":path", "/payload?size=1MiB"}}))
	data := appendFrame(nil, FrameData, 0, 1, []byte("hello"))
	end := appendFrame(nil, FrameEnd, 0, 1, append(u32(0), appendFields(nil, Fields{{"content-digest", "sha-256=:x:"}})...))
	ping := appendFrame(nil, FramePing, FlagAck, 0, make([]byte, 8))
	hello := defaultHello()
	hello.Role = RoleAcceptor
	all := bytes.Join([][]byte{hello.frame(), head, data, u32Frame(FrameWindow, 1, 4096), end, ping, Load{InFlight: 1}.frame(), goAwayFrame(1, CodeShutdown, "drain"), u32Frame(FrameReset, 3, 3)}, nil)
	return [][]byte{head, data, end, all, all[:len(all)-3], {0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0}}
}
