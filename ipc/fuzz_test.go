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
	hdr := make([]byte, headerSize)
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
		case frameHead:
			_, err = parseFields(p)
		case frameEnd:
			_, err = parseFields(p[4:])
		case frameHello:
			_, err = parseHello(p)
		case frameLoad:
			parseLoad(p)
		case frameGoAway:
			_ = binary.BigEndian.Uint32(p[4:8])
		case frameWindow, frameReset:
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
	f.Add(defaultHello().frame()[headerSize:])
	h := defaultHello()
	h.role = roleAcceptor
	f.Add(h.frame()[headerSize:])
	f.Add([]byte("SLCE"))
	f.Fuzz(func(t *testing.T, p []byte) {
		peer, err := parseHello(p)
		if err != nil {
			return
		}
		local := defaultHello()
		local.role = roleOpener
		v, err := negotiate(local, peer)
		if err == nil && (v < minVersion || v > maxVersion || peer.role != roleAcceptor) {
			t.Fatalf("negotiated version %d with role %s", v, peer.role)
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
	head := appendFrame(nil, frameHead, 0, 1, appendFields(nil, Fields{{":method", "GET"}, {":path", "/payload?size=1MiB"}}))
	data := appendFrame(nil, frameData, 0, 1, []byte("hello"))
	end := appendFrame(nil, frameEnd, 0, 1, append(u32(0), appendFields(nil, Fields{{"content-digest", "sha-256=:x:"}})...))
	ping := appendFrame(nil, framePing, flagAck, 0, make([]byte, 8))
	hello := defaultHello()
	hello.role = roleAcceptor
	all := bytes.Join([][]byte{hello.frame(), head, data, u32Frame(frameWindow, 1, 4096), end, ping, Load{InFlight: 1}.frame(), goAwayFrame(1, CodeShutdown, "drain"), u32Frame(frameReset, 3, 3)}, nil)
	return [][]byte{head, data, end, all, all[:len(all)-3], {0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0}}
}
