package parent_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/parent"
)

// A Gateway is an http.Handler: mount it in your own server, with its admin
// endpoints on a listener only operators reach, start its workers, and drain
// it on SIGTERM. It has no Output line: it would start worker processes.
func Example() {
	gw, err := parent.New(parent.Config{
		Workers:      4,
		WorkerCmd:    []string{"/usr/local/bin/my-worker"}, // calls child.Main(handler)
		QueueTimeout: 10 * time.Second,
		// Cut a client that takes nothing for a minute; MaxInFlight is
		// left automatic, set by each worker from its CPU pressure.
		SendTimeout: parent.DefaultSendTimeout,
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/", gw)
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("v1\n")) })
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	admin := &http.Server{Addr: "127.0.0.1:9090", Handler: gw.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}

	gw.Start()
	go admin.ListenAndServe()
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	<-sigs

	// The HTTP server waits for the responses in flight first; then the
	// workers are told to finish and stop.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Print("responses still running at the drain deadline: ", err)
	}
	if err := gw.Shutdown(ctx); err != nil {
		log.Print("workers still running at the drain deadline: ", err)
	}
	admin.Close()
}
