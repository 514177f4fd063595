package ipc

import "testing"

func TestLoadFrameRoundTrip(t *testing.T) {
	want := Load{InFlight: 1, Waiting: 2, Limit: 3, Blocked: 4, QueuedBytes: 5 << 40,
		Draining: 6, PressurePermille: 700, SchedLatencyMicros: 8, FlushLagMicros: 9}
	b := want.frame()
	h, err := parseHeader(b, loadSize)
	if err != nil {
		t.Fatal(err)
	}
	if h.Type != frameLoad || h.Length != loadSize || checkFixedLength(h) != nil {
		t.Fatalf("header %+v (check %v), want a LOAD of %d bytes", h, checkFixedLength(h), loadSize)
	}
	if got := parseLoad(b[headerSize:]); got != want {
		t.Fatalf("parsed %+v, want %+v", got, want)
	}
}

// A 24-byte LOAD of the first protocol revision still parses: the fields it
// lacks read as 0.
func TestLoadShortFrame(t *testing.T) {
	full := Load{InFlight: 1, Waiting: 2, Limit: 3, Blocked: 4, QueuedBytes: 5, Draining: 6}.frame()
	short := full[:headerSize+loadSizeShort]
	putHeader(short, frameHeader{Length: loadSizeShort, Type: frameLoad})
	h, err := parseHeader(short, loadSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkFixedLength(h); err != nil {
		t.Fatalf("a 24-byte LOAD was refused: %v", err)
	}
	want := Load{InFlight: 1, Waiting: 2, Limit: 3, Blocked: 4, QueuedBytes: 5}
	if got := parseLoad(short[headerSize:]); got != want {
		t.Fatalf("parsed %+v, want %+v", got, want)
	}
	for _, n := range []uint32{0, 23, 25, 39, 41} {
		if checkFixedLength(frameHeader{Length: n, Type: frameLoad}) == nil {
			t.Errorf("a LOAD of %d bytes was accepted", n)
		}
	}
}
