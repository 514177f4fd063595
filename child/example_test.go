//go:build unix

package child_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/sluicegw/sluice/child"
	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/sockopt"
)

// A worker binary is a main that calls Main with its handler; start it
// with `sluice serve --worker-cmd ./myworker`. Main finds the socket the
// parent passed (SLUICE_FD), reads its settings from the SLUICE_
// environment, serves until the parent's go-away and exits. (No output:
// it needs the socket that only the parent can give it.)
func ExampleMain() {
	child.Main(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from a sluice worker, %s\n", r.URL.Query().Get("name"))
	}))
}

// Serve does Main's work over any connection. Here the test plays the
// parent on the other end of a socketpair: it opens one stream per
// request with ipc, reads the worker's admin /config over an admin stream,
// and ends with a go-away, after which Serve finishes and returns nil.
func ExampleServe() {
	quiet := slog.New(slog.DiscardHandler)
	parentEnd, workerEnd, err := socketpair()
	if err != nil {
		fmt.Println(err)
		return
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello, %s\n", r.URL.Query().Get("name"))
	})
	served := make(chan error, 1)
	go func() { served <- child.Serve(context.Background(), workerEnd, handler, &child.Config{Logger: quiet}) }()

	conn, err := ipc.Client(parentEnd, &ipc.Config{Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	ctx := context.Background()

	// A client's request: the gateway's HTTP mapping (docs/PROTOCOL.md).
	status, body := call(ctx, conn, ipc.Fields{
		{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/hello?name=gopher"},
		{Name: ":authority", Value: "example.com"}, {Name: ":scheme", Value: "http"},
	})
	fmt.Print(status, " ", body)

	// The parent's own request: an admin stream, which bypasses the gate.
	status, body = call(ctx, conn, ipc.Fields{
		{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/config"},
		{Name: ":authority", Value: "sluice-admin"}, {Name: ":scheme", Value: "http"},
		{Name: ":sluice", Value: "admin"},
	})
	fmt.Print(status, " ", body)

	conn.GoAway(ipc.CodeShutdown, "example done")
	fmt.Println("Serve returned:", <-served)
	// Output:
	// 200 hello, gopher
	// 200 {"max_inflight":0,"high_watermark":8388608,"low_watermark":2097152,"queue_limit":16777216,"admission":true,"sched":"sequential"}
	// Serve returned: <nil>
}

// call sends a bodyless request on a new stream and returns the response's
// status and body.
func call(ctx context.Context, conn *ipc.Conn, head ipc.Fields) (string, string) {
	st, err := conn.OpenStream(ctx, head, true)
	if err != nil {
		return "", err.Error() + "\n"
	}
	resp, err := st.ReadHead(ctx)
	if err != nil {
		return "", err.Error() + "\n"
	}
	body, err := io.ReadAll(st)
	if err != nil {
		return "", err.Error() + "\n"
	}
	return resp.Get(":status"), string(body)
}

// socketpair returns both ends of a Unix socketpair as connections: the
// parent's, and the one a worker process would inherit.
func socketpair() (net.Conn, net.Conn, error) {
	local, remote, err := sockopt.Socketpair()
	if err != nil {
		return nil, nil, err
	}
	peer, err := net.FileConn(remote)
	remote.Close()
	if err != nil {
		local.Close()
		return nil, nil, err
	}
	return local, peer, nil
}
