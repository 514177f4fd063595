package child

import (
	"context"
	"testing"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// TestDrainLeavesAHeldBodyAlone: what a handler left of a body is drained
// after it returns, unless the parent still holds that body for a client
// waiting for 100 Continue: a drain would grant the credit that makes the
// parent ask the client for it.
func TestDrainLeavesAHeldBodyAlone(t *testing.T) {
	a, b := socketpair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := make(chan *ipc.Conn, 1)
	go func() {
		c, err := ipc.Server(b, nil)
		if err != nil {
			t.Error(err)
		}
		srv <- c
	}()
	pc, err := ipc.Client(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	wc := <-srv
	if wc == nil {
		t.FailNow()
	}
	defer wc.Close()
	for _, held := range []bool{true, false} {
		head := reqHead("PUT", "/up", ipc.Field{Name: "Content-Length", Value: "10"})
		if held {
			head = append(head, ipc.Field{Name: ipc.FieldContinue, Value: "100-continue"})
		}
		st, err := pc.OpenStream(ctx, head, false)
		if err != nil {
			t.Fatal(err)
		}
		as, err := wc.AcceptStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !held {
			st.Write([]byte("0123456789"))
			st.CloseWrite()
		}
		body := requestBody{st: as}
		drained := make(chan struct{})
		go func() { body.drain(); close(drained) }()
		if held {
			// A drain that read would grant the credit, and then wait
			// for a body that never comes.
			credited := make(chan error, 1)
			go func() { credited <- st.AwaitCredit(ctx) }()
			select {
			case <-drained:
			case err := <-credited:
				st.Reset(ipc.CodeCancel)
				<-drained
				t.Fatalf("the drain read a held body (AwaitCredit: %v)", err)
			}
			st.Reset(ipc.CodeCancel)
			<-credited
		}
		<-drained
		if as.BodyHeld() != held {
			t.Fatalf("held %v: BodyHeld %v after the drain", held, as.BodyHeld())
		}
		if !held && !as.PeerEnded() {
			t.Fatal("an ordinary body was not drained")
		}
		st.Reset(ipc.CodeCancel)
	}
}
