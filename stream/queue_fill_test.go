package stream

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFillReadsStraightIntoChunks(t *testing.T) {
	q := NewQueue(4*ChunkSize, nil)
	notified := 0
	q.SetNotify(func() { notified++ })
	src := make([]byte, 3*ChunkSize+123)
	for i := range src {
		src[i] = byte(i * 7)
	}
	r := bytes.NewReader(src)
	if n, err := q.Fill(r, 1000); n != 1000 || err != nil {
		t.Fatalf("Fill: %d, %v", n, err)
	}
	if n, err := q.Fill(r, len(src)-1000); n != len(src)-1000 || err != nil {
		t.Fatalf("Fill: %d, %v", n, err)
	}
	if q.Len() != len(src) || notified != 1 {
		t.Fatalf("Len %d notified %d; want %d and one wake-up", q.Len(), notified, len(src))
	}
	var got []byte
	for {
		s := q.Pop(ChunkSize)
		if len(s.Bytes) == 0 {
			break
		}
		got = append(got, s.Bytes...)
		s.Release()
	}
	if !bytes.Equal(got, src) {
		t.Fatal("popped bytes differ from what was filled")
	}
}

func TestFillAfterAbortConsumesInput(t *testing.T) {
	q := NewQueue(ChunkSize, nil)
	q.Abort(errors.New("reset"))
	r := bytes.NewReader(make([]byte, 5000))
	if n, err := q.Fill(r, 4000); n != 4000 || err != nil {
		t.Fatalf("Fill after abort: %d, %v; want the input consumed", n, err)
	}
	if r.Len() != 1000 || q.Len() != 0 {
		t.Fatalf("reader left %d, queue %d", r.Len(), q.Len())
	}
}

func TestFillShortInput(t *testing.T) {
	q := NewQueue(ChunkSize, nil)
	if _, err := q.Fill(bytes.NewReader(make([]byte, 10)), 20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Fill of a short input: %v; want ErrUnexpectedEOF", err)
	}
}

func TestFillRefusesBudget(t *testing.T) {
	q := NewQueue(ChunkSize, NewBudget(1<<20, 0, 0))
	if _, err := q.Fill(bytes.NewReader(make([]byte, 10)), 10); err == nil {
		t.Fatal("Fill on a queue with a budget succeeded")
	}
}
