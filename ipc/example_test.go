package ipc_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sluicegw/sluice/ipc"
)

// Example is one round trip over a Unix socketpair, as between the parent
// and a worker: the parent opens a stream with a request head, the worker
// answers with a response head and a body, and the parent reads both.
func Example() {
	parentEnd, workerEnd, err := socketpair()
	if err != nil {
		log.Fatal(err)
	}
	// A discarding logger keeps the connections' lifecycle messages out of
	// the example.
	cfg := &ipc.Config{Logger: slog.New(slog.DiscardHandler)}

	// Both ends send their HELLO first, so the worker's handshake runs on
	// its own goroutine.
	workerUp := make(chan *ipc.Conn, 1)
	go func() {
		c, err := ipc.Server(workerEnd, cfg)
		if err != nil {
			log.Print(err)
		}
		workerUp <- c
	}()
	parent, err := ipc.Client(parentEnd, cfg)
	worker := <-workerUp
	if err != nil || worker == nil {
		log.Fatal("handshake failed: ", err)
	}
	defer worker.Close()
	defer parent.Close()

	// The worker accepts the stream and answers it.
	ctx := context.Background()
	handled := make(chan error, 1)
	go func() {
		st, err := worker.AcceptStream(ctx)
		if err == nil {
			err = answer(st)
		}
		handled <- err
	}()

	// The parent: a request without a body, so its head also ends what it
	// sends.
	request := ipc.Fields{{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/greeting"}}
	st, err := parent.OpenStream(ctx, request, true)
	if err != nil {
		log.Fatal(err)
	}
	head, err := st.ReadHead(ctx)
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(st) // io.EOF, hence nil here, means the response is complete
	if err != nil {
		log.Fatal(err)
	}
	if err := <-handled; err != nil {
		log.Fatal(err)
	}
	fmt.Println(head.Get(":status"))
	fmt.Println(string(body))
	// Output:
	// 200
	// hello from /greeting
}

// answer is the worker's handler: a response head, a body, and the end.
func answer(st *ipc.Stream) error {
	path := st.Head().Get(":path")
	if err := st.WriteHead(ipc.Fields{{Name: ":status", Value: "200"}}, false); err != nil {
		return err
	}
	if _, err := io.WriteString(st, "hello from "+path); err != nil {
		return err
	}
	return st.CloseWrite()
}

// socketpair returns the two ends of a connected Unix stream socketpair.
func socketpair() (net.Conn, net.Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	parentFile := os.NewFile(uintptr(fds[0]), "parent")
	workerFile := os.NewFile(uintptr(fds[1]), "worker")
	// FileConn duplicates the descriptors; the files are not needed after.
	defer parentFile.Close()
	defer workerFile.Close()
	parentEnd, err := net.FileConn(parentFile)
	if err != nil {
		return nil, nil, err
	}
	workerEnd, err := net.FileConn(workerFile)
	if err != nil {
		parentEnd.Close()
		return nil, nil, err
	}
	return parentEnd, workerEnd, nil
}
