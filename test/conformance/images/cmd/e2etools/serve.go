package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// runServe serves a directory over HTTP, the entrypoint of the images
// that stand in for nginx and httpd:
//
//	serve [-dir DIR] [-listen ADDR,...]
//
// It runs as PID 1, where the kernel drops signals the process does not
// handle, so it exits on SIGTERM and SIGINT itself, and on SIGQUIT, the
// stop signal of nginx's images.
func runServe(e env, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dir := fs.String("dir", "/usr/share/nginx/html", "directory to serve")
	listen := fs.String("listen", ":80", "comma-separated addresses to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lns []net.Listener
	for _, addr := range strings.Split(*listen, ",") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintf(e.stderr, "serve: %v\n", err)
			return 1
		}
		lns = append(lns, ln)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	defer stop()
	if err := serve(ctx, *dir, lns); err != nil {
		fmt.Fprintf(e.stderr, "serve: %v\n", err)
		return 1
	}
	return 0
}

// serve serves dir on every listener until ctx is done, then shuts down.
func serve(ctx context.Context, dir string, lns []net.Listener) error {
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errs <- srv.Serve(ln) }()
	}
	var err error
	pending := len(lns)
	select {
	case <-ctx.Done():
	case err = <-errs:
		pending--
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	for ; pending > 0; pending-- {
		<-errs // every Serve has returned
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
