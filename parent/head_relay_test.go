package parent

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/sluicegw/sluice/ipc"
)

// TestRelayResponseHeadIntoHeader: relaying into a header that already has
// values replaces those the head names and keeps the others, as copying
// the parsed head over it did; values that share one allocation stay apart
// when one of them is appended to later.
func TestRelayResponseHeadIntoHeader(t *testing.T) {
	dst := http.Header{"X-Kept": {"k"}, "X-Twice": {"old"}}
	head := ipc.Fields{
		{Name: ":status", Value: "201"},
		{Name: "x-twice", Value: "1"},
		{Name: "X-One", Value: "a"},
		{Name: "X-Twice", Value: "2"},
		{Name: "Connection", Value: "X-Hop"},
		{Name: "X-Hop", Value: "dropped"},
		{Name: "Trailer", Value: "X-Sum"},
	}
	status, err := relayResponseHead(head, dst)
	if err != nil || status != 201 {
		t.Fatalf("got %d, %v", status, err)
	}
	want := http.Header{"X-Kept": {"k"}, "X-Twice": {"1", "2"}, "X-One": {"a"}, "Trailer": {"X-Sum"}}
	if !reflect.DeepEqual(dst, want) {
		t.Fatalf("header\n%v\nwant\n%v", dst, want)
	}
	dst.Add("X-One", "b")
	dst.Add("Trailer", "X-Count")
	want["X-One"] = []string{"a", "b"}
	want["Trailer"] = []string{"X-Sum", "X-Count"}
	if !reflect.DeepEqual(dst, want) {
		t.Fatalf("after appends\n%v\nwant\n%v", dst, want)
	}

	// A bad head leaves the header as it was.
	before := http.Header{"X-Kept": {"k"}}
	if _, err := relayResponseHead(ipc.Fields{{Name: "X-Kept", Value: "new"}, {Name: ":status", Value: "103"}}, before); err == nil {
		t.Fatal("a 1xx head relayed")
	}
	if !reflect.DeepEqual(before, http.Header{"X-Kept": {"k"}}) {
		t.Fatalf("a bad head changed the header: %v", before)
	}
}
